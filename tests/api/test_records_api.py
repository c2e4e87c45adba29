"""The records API: CRUD, validation answers, pagination, search, idempotency, bulk."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_create_read_update_delete_a_contact(client: TestClient) -> None:
    created = client.post("/api/v1/contacts", json={
        "first_name": "Ana", "last_name": "Lima", "email": "Ana.Lima@Example.com",
        "phone": "138 0013 8000",
    })
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["email"] == "ana.lima@example.com"
    assert contact["phone"] == "+8613800138000"

    read = client.get(f"/api/v1/contacts/{contact['id']}")
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'

    updated = client.patch(f"/api/v1/contacts/{contact['id']}", json={"job_title": "CTO"},
                           headers={"If-Match": '"1"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2

    stale = client.patch(f"/api/v1/contacts/{contact['id']}", json={"job_title": "CEO"},
                         headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict"

    assert client.delete(f"/api/v1/contacts/{contact['id']}").status_code == 204
    assert client.get(f"/api/v1/contacts/{contact['id']}").status_code == 404


def test_bad_input_gets_a_problem_naming_each_field(client: TestClient) -> None:
    answer = client.post("/api/v1/contacts", json={
        "last_name": "x" * 101, "role": "ceo", "owner_id": "7", "nickname": "A",
    })
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"last_name", "role", "owner_id", "nickname"} <= fields


def test_malformed_json_is_a_400(client: TestClient) -> None:
    answer = client.post("/api/v1/contacts", content=b'{"last_name": ',
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_json"


def test_nul_byte_is_refused_not_a_500(client: TestClient) -> None:
    answer = client.post("/api/v1/contacts", json={"last_name": "Li\u0000"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "last_name"


def test_dangling_reference_names_the_field(client: TestClient) -> None:
    answer = client.post("/api/v1/contacts", json={"last_name": "Li", "account_id": 999999})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "account_id", "message": "no account with id 999999", "code": "dangling_reference"}
    ]


def test_keyset_pages_cover_every_record_once(client: TestClient) -> None:
    names = [f"Person{i:02d}" for i in range(23)]
    bulk = client.post("/api/v1/contacts/bulk", json={"records": [{"last_name": n} for n in names]})
    assert bulk.status_code == 200, bulk.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"sort": "-last_name", "limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/contacts", params=params).json()
        seen.extend(item["last_name"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(names, reverse=True)


def test_filters_and_search(client: TestClient) -> None:
    account = client.post("/api/v1/accounts", json={"name": "上海精密仪器有限公司", "tier": "A"}).json()
    client.post("/api/v1/accounts", json={"name": "Nordic Medical AB", "tier": "B"})
    client.post("/api/v1/contacts", json={"first_name": "伟", "last_name": "王",
                                           "account_id": account["id"]})
    tier_a = client.get("/api/v1/accounts", params={"filter": "tier:eq:A"}).json()
    assert [a["name"] for a in tier_a["items"]] == ["上海精密仪器有限公司"]
    found = client.get("/api/v1/contacts", params={"q": "王伟"}).json()
    assert [c["title"] for c in found["items"]] == ["王伟"]
    bad = client.get("/api/v1/accounts", params={"filter": "tier:like:A"})
    assert bad.status_code == 422


def test_idempotency_key_replays_the_first_answer(client: TestClient) -> None:
    headers = {"Idempotency-Key": "retry-1"}
    first = client.post("/api/v1/accounts", json={"name": "Acme"}, headers=headers)
    second = client.post("/api/v1/accounts", json={"name": "Acme"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    listing = client.get("/api/v1/accounts", params={"filter": "name:eq:Acme"}).json()
    assert listing["count"] == 1


def test_opportunity_stage_rules(client: TestClient, sales_pipeline: dict[str, int]) -> None:
    opp = client.post("/api/v1/opportunities", json={"name": "Line 3 retrofit"}).json()
    assert opp["stage_id"] == sales_pipeline["qualify"]
    assert opp["probability"] == 10
    refused = client.patch(f"/api/v1/opportunities/{opp['id']}",
                           json={"stage_id": sales_pipeline["proposal"]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "amount"
    moved = client.patch(f"/api/v1/opportunities/{opp['id']}",
                         json={"stage_id": sales_pipeline["proposal"], "amount": "125000.00"})
    assert moved.status_code == 200
    assert moved.json()["probability"] == 50
    timeline = client.get(f"/api/v1/opportunities/{opp['id']}/timeline").json()
    assert [i["action"] for i in timeline["items"]] == ["updated", "created"]


def test_unauthenticated_requests_are_refused(client: TestClient) -> None:
    answer = client.get("/api/v1/contacts", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
