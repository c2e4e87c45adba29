"""Bad input ends in a 4xx that says what to fix, never a 5xx (docs: RELIABILITY.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

BIG = 2**63  # one past the largest 64-bit id


def post_raw(client: TestClient, url: str, body: str | bytes,
             headers: dict[str, str] | None = None) -> Any:
    return client.post(url, content=body.encode() if isinstance(body, str) else body,
                       headers={"Content-Type": "application/json", **(headers or {})})


def assert_problem(answer: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    if code:
        assert body["code"] == code
    return body


# -- NUL bytes (PostgreSQL rejects U+0000) ------------------------------------------------------

def test_nul_bytes_in_fields_are_refused_with_a_422(client: TestClient) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "contacts", "name": "nickname", "label": "Nickname", "field_type": "text"})
    for body, field in (
        ({"last_name": "Ngu\u0000yen"}, "last_name"),
        ({"last_name": "Nguyen", "notes": "a\u0000b"}, "notes"),
        ({"last_name": "Nguyen", "email": "a\u0000@example.com"}, "email"),
        ({"last_name": "Nguyen", "custom": {"nickname": "\u0000"}}, "custom.nickname"),
    ):
        problem = assert_problem(client.post("/api/v1/contacts", json=body), 422)
        assert problem["errors"][0]["field"] == field


def test_nul_bytes_in_urls_are_refused_with_a_422(client: TestClient) -> None:
    for url, params in (
        ("/api/v1/contacts", {"filter": "last_name:eq:a\u0000b"}),
        ("/api/v1/contacts", {"filter": "last_name:contains:\u0000"}),
        ("/api/v1/contacts", {"q": "a\u0000"}),
        ("/api/v1/search", {"q": "a\u0000"}),
        ("/api/v1/custom-fields", {"object_type": "contacts\u0000"}),
        ("/api/v1/custom-objects/mach%00ine/records", {}),
        ("/api/v1/schema/contacts%00", {}),
    ):
        assert_problem(client.get(url, params=params), 422)


# -- malformed, nested and oversized bodies -----------------------------------------------------

@pytest.mark.parametrize("body", [
    b'{"last_name": ', b"{'last_name': 'Ng'}", b'{"last_name": "Ng",}', b"\xff\xfe{}",
    b'{"last_name": "\xc3\x28"}',
])
def test_malformed_json_is_a_400(client: TestClient, body: bytes) -> None:
    problem = assert_problem(post_raw(client, "/api/v1/contacts", body), 400, "malformed_json")
    assert problem["detail"]


def test_an_empty_body_is_a_422_naming_the_body(client: TestClient) -> None:
    problem = assert_problem(post_raw(client, "/api/v1/contacts", b""), 422)
    assert problem["errors"][0]["field"] == "body"


def test_deeply_nested_json_is_a_4xx(client: TestClient) -> None:
    depth = 100_000
    answer = post_raw(client, "/api/v1/contacts", "[" * depth + "]" * depth)
    assert 400 <= answer.status_code < 500
    nested = '{"last_name": "Ng", "custom": {"x": ' + "[" * 400 + "]" * 400 + "}}"
    for url in ("/api/v1/contacts", "/api/v1/contacts/bulk"):
        payload = nested if url.endswith("contacts") else '{"records": [' + nested + "]}"
        answer = post_raw(client, url, payload, headers={"Idempotency-Key": f"deep-{url}"})
        assert 400 <= answer.status_code < 500, (url, answer.text[:300])


def test_a_body_over_the_limit_is_a_413(client: TestClient) -> None:
    oversized = '{"last_name": "' + "x" * 2_100_000 + '"}'
    assert_problem(post_raw(client, "/api/v1/contacts", oversized), 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted while reading
        yield b'{"last_name": "'
        for _ in range(250):
            yield b"x" * 10_000
        yield b'"}'

    streamed = client.post("/api/v1/contacts", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert_problem(streamed, 413, "payload_too_large")
    assert client.get("/api/v1/contacts").json()["count"] == 0


# -- mass assignment ----------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "field", "value"), [
    ("/api/v1/contacts", "id", 77),
    ("/api/v1/contacts", "version", 9),
    ("/api/v1/contacts", "created_at", "2020-01-01T00:00:00Z"),
    ("/api/v1/contacts", "updated_at", "2020-01-01T00:00:00Z"),
    ("/api/v1/contacts", "is_admin", True),
    ("/api/v1/contacts", "title", "Dr"),
    ("/api/v1/leads", "converted_at", "2020-01-01T00:00:00Z"),
    ("/api/v1/leads", "converted_account_id", 1),
    ("/api/v1/opportunities", "status", "won"),
    ("/api/v1/tasks", "completed_at", "2020-01-01T00:00:00Z"),
    ("/api/v1/tickets", "resolved_at", "2020-01-01T00:00:00Z"),
    ("/api/v1/quotes", "total", "1.00"),
])
def test_fields_clients_may_not_set_are_refused(
    client: TestClient, url: str, field: str, value: Any
) -> None:
    base = {"/api/v1/contacts": {"last_name": "Ng"}, "/api/v1/leads": {"last_name": "Ng"},
            "/api/v1/opportunities": {"name": "Deal"}, "/api/v1/tasks": {"title": "Call"},
            "/api/v1/tickets": {"subject": "Broken"}, "/api/v1/quotes": {"number": "Q-1"}}[url]
    problem = assert_problem(client.post(url, json={**base, field: value}), 422)
    assert problem["errors"] == [{
        "field": field, "code": "extra_forbidden",
        "message": "unknown field; check the spelling or declare a custom field"}]


def test_system_fields_cannot_be_changed_by_an_update_either(client: TestClient) -> None:
    contact = client.post("/api/v1/contacts", json={"last_name": "Ng"}).json()
    for field, value in (("id", 99), ("created_at", "2020-01-01T00:00:00Z"), ("custom_x", 1)):
        assert_problem(client.patch(f"/api/v1/contacts/{contact['id']}", json={field: value}), 422)
    assert client.get(f"/api/v1/contacts/{contact['id']}").json()["id"] == contact["id"]


# -- numbers ------------------------------------------------------------------------------------

def test_integers_beyond_64_bits_are_a_422(client: TestClient) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "contacts", "name": "partner", "label": "Partner",
        "field_type": "reference", "reference_object": "accounts"})
    for body, field in (
        ({"last_name": "Ng", "account_id": BIG}, "account_id"),
        ({"last_name": "Ng", "account_id": 10**30}, "account_id"),
        ({"last_name": "Ng", "custom": {"partner": BIG}}, "custom.partner"),
    ):
        problem = assert_problem(client.post("/api/v1/contacts", json=body), 422)
        assert problem["errors"][0]["field"] == field
    problem = assert_problem(client.post("/api/v1/activities", json={
        "type": "call", "occurred_at": "2026-01-01T00:00:00Z", "duration_seconds": BIG}), 422)
    assert problem["errors"][0]["field"] == "duration_seconds"
    # INTEGER columns hold 32 bits on PostgreSQL
    pipeline = client.post("/api/v1/pipelines", json={"name": "Sales"}).json()
    problem = assert_problem(client.post("/api/v1/pipeline_stages", json={
        "pipeline_id": pipeline["id"], "name": "Qualify", "position": 2**31}), 422)
    assert problem["errors"][0]["field"] == "position"
    assert_problem(client.get("/api/v1/pipeline_stages", params={"filter": f"position:gt:{2**40}"}),
                   422)
    assert_problem(client.get("/api/v1/contacts", params={"filter": f"account_id:eq:{BIG}"}), 422)
    assert_problem(client.get(f"/api/v1/contacts/{BIG}"), 422)
    assert_problem(client.post(f"/api/v1/leads/{BIG}/convert", json={}), 422)
    assert_problem(client.post("/api/v1/leads/1/convert", json={"account_id": BIG}), 422)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "1e400", '"NaN"', '"Infinity"',
                                    '"1e20"', "12.345", "-5"])
def test_money_must_be_a_finite_non_negative_amount_in_cents(
    client: TestClient, sales_pipeline: dict[str, int], amount: str
) -> None:
    answer = post_raw(client, "/api/v1/opportunities", '{"name": "Deal", "amount": ' + amount + "}")
    problem = assert_problem(answer, 422)
    assert problem["errors"][0]["field"] == "amount"


def test_nan_and_infinity_in_custom_money_are_a_422(client: TestClient) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "accounts", "name": "budget", "label": "Budget", "field_type": "money"})
    for value in ("NaN", "Infinity", "-Infinity", "1e400", '"NaN"', '"1e999999"'):
        answer = post_raw(client, "/api/v1/accounts",
                          '{"name": "Example", "custom": {"budget": ' + value + "}}")
        problem = assert_problem(answer, 422)
        assert problem["errors"][0]["field"] == "custom.budget", value
    assert client.get("/api/v1/accounts", params={"filter": "budget:gt:5"}).status_code == 200


# -- times --------------------------------------------------------------------------------------

def test_naive_datetimes_are_a_422(client: TestClient) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "tasks", "name": "remind_at", "label": "Remind", "field_type": "datetime"})
    for body, field in (
        ({"title": "Call back", "due_at": "2026-03-01T09:00:00"}, "due_at"),
        ({"title": "Call back", "due_at": "2026-03-01 09:00"}, "due_at"),
        ({"title": "Call back", "custom": {"remind_at": "2026-03-01T09:00:00"}}, "custom.remind_at"),
    ):
        problem = assert_problem(client.post("/api/v1/tasks", json=body), 422)
        assert problem["errors"][0]["field"] == field


def test_times_with_an_offset_are_stored_in_utc(client: TestClient) -> None:
    task = client.post("/api/v1/tasks", json={
        "title": "Call back", "due_at": "2026-03-29T02:30:00+08:00"}).json()
    assert task["due_at"] == "2026-03-28T18:30:00+00:00"


# -- identity-bearing values --------------------------------------------------------------------

def test_a_phone_sent_as_a_number_is_a_422(client: TestClient) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "contacts", "name": "fax", "label": "Fax", "field_type": "phone"})
    for body, field in (({"last_name": "Ng", "phone": 13800138000}, "phone"),
                        ({"last_name": "Ng", "mobile": 8613800138000}, "mobile"),
                        ({"last_name": "Ng", "custom": {"fax": 13800138000}}, "custom.fax")):
        problem = assert_problem(client.post("/api/v1/contacts", json=body), 422)
        assert problem["errors"][0]["field"] == field


@pytest.mark.parametrize(("raw", "stored"), [
    ("ana.lima＠example.com", "ana.lima@example.com"),
    ("ana.lima\u200b@example.com", "ana.lima@example.com"),
    ("ana.\u200dlima@exa\u200bmple.com", "ana.lima@example.com"),
    ("\ufeffANA.LIMA@EXAMPLE.COM", "ana.lima@example.com"),
    ("ａｎａ.ｌｉｍａ@ｅｘａｍｐｌｅ.ｃｏｍ", "ana.lima@example.com"),
])
def test_look_alike_emails_are_normalised(client: TestClient, raw: str, stored: str) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "contacts", "name": "work_email", "label": "Work", "field_type": "email"})
    answer = client.post("/api/v1/contacts", json={
        "last_name": "Lima", "email": raw, "custom": {"work_email": raw}})
    assert answer.status_code == 201, answer.text
    assert answer.json()["email"] == stored
    assert answer.json()["custom"]["work_email"] == stored
    found = client.get("/api/v1/contacts", params={"filter": f"email:eq:{stored}"}).json()
    assert found["count"] == 1


def test_look_alike_phone_digits_are_normalised(client: TestClient) -> None:
    for raw in ("１３８ ００１３ ８０００", "138\u200b0013\u200b8000", "+86 (138) 0013-8000"):
        answer = client.post("/api/v1/contacts", json={"last_name": "Ng", "phone": raw})
        assert answer.status_code == 201, (raw, answer.text)
        assert answer.json()["phone"] == "+8613800138000"


# -- guessed ids --------------------------------------------------------------------------------

def test_guessed_ids_are_a_404_everywhere(client: TestClient) -> None:
    client.post("/api/v1/custom-objects", json={"name": "machine", "label": "Machine"})
    for method, url, body in (
        ("GET", "/api/v1/contacts/424242", None),
        ("PATCH", "/api/v1/contacts/424242", {"job_title": "Ghost"}),
        ("DELETE", "/api/v1/contacts/424242", None),
        ("GET", "/api/v1/contacts/424242/timeline", None),
        ("GET", f"/api/v1/contacts/{BIG - 1}", None),
        ("POST", "/api/v1/leads/424242/convert", {}),
        ("GET", "/api/v1/pipelines/424242/board", None),
        ("DELETE", "/api/v1/custom-fields/424242", None),
        ("GET", "/api/v1/custom-objects/machine/records/424242", None),
        ("PATCH", "/api/v1/custom-objects/machine/records/424242", {"name": "Ghost"}),
        ("DELETE", "/api/v1/custom-objects/machine/records/424242", None),
        ("GET", "/api/v1/no-such-object", None),
    ):
        answer = client.request(method, url, json=body)
        assert_problem(answer, 404, "not_found")


def test_ids_that_cannot_exist_are_a_422(client: TestClient) -> None:
    for url in ("/api/v1/contacts/0", "/api/v1/contacts/-1", "/api/v1/contacts/abc",
                f"/api/v1/contacts/{BIG}", "/api/v1/contacts/1e3"):
        assert_problem(client.get(url), 422, "validation_failed")


def test_unauthenticated_calls_are_a_401_problem(client: TestClient) -> None:
    for headers in ({"Authorization": "Bearer rpt_guessed"}, {"Authorization": "Basic eDp5"},
                    {"Authorization": ""}):
        assert_problem(client.get("/api/v1/contacts", headers=headers), 401, "unauthenticated")


def test_unexpected_content_types_do_not_crash(client: TestClient) -> None:
    for content_type, body in (("text/plain", b"last_name=Ng"),
                               ("application/x-www-form-urlencoded", b"last_name=Ng"),
                               ("application/json; charset=latin-1", json.dumps(
                                   {"last_name": "Ng"}).encode())):
        answer = client.post("/api/v1/contacts", content=body,
                             headers={"Content-Type": content_type})
        assert answer.status_code < 500, (content_type, answer.text)
