"""Data-subject requests through the API: deadlines, lookups, access bundles, rejection,
and who may handle them."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from rapport.bootstrap import Container
from rapport.trust.auth import create_api_token, create_user
from rapport.trust.models import AuditEntry, DataSubjectRequest
from rapport.trust.pseudonym import pseudonym
from rapport.trust.roles import set_user_roles
from tests.fixtures.api import PASSWORD

BASE = "/api/v1/privacy/requests"


def _ok(answer: Any, status: int = 201) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def ada(client: TestClient) -> dict[str, Any]:
    """A contact with a ticket, two activities, a task, a deal and a formula-like note; plus
    another person on the same account."""
    account = _ok(client.post("/api/v1/accounts", json={"name": "Shanghai Valves"}))
    contact = _ok(client.post("/api/v1/contacts", json={
        "first_name": "Ada", "last_name": "Wu", "email": "ada.wu@example.com",
        "phone": "+86 138 1111 2222", "account_id": account["id"], "notes": "=HYPERLINK(\"x\")"}))
    other = _ok(client.post("/api/v1/contacts", json={
        "first_name": "Bo", "last_name": "Wu", "email": "bo.wu@example.com",
        "account_id": account["id"]}))
    ticket = _ok(client.post("/api/v1/tickets", json={"subject": "Valve leaks",
                                                       "contact_id": contact["id"]}))
    for subject, link in (("Call", {"contact_id": contact["id"]}),
                          ("Ticket reply", {"ticket_id": ticket["id"]}),
                          ("Bo's call", {"contact_id": other["id"]})):
        _ok(client.post("/api/v1/activities", json={
            "type": "call", "subject": subject, "occurred_at": "2026-02-01T08:00:00Z", **link}))
    _ok(client.post("/api/v1/tasks", json={"title": "Send datasheet", "contact_id": contact["id"]}))
    _ok(client.patch(f"/api/v1/contacts/{contact['id']}", json={"job_title": "Buyer"}), 200)
    return {**contact, "account": account["id"], "other": other["id"], "ticket": ticket["id"]}


@pytest.mark.parametrize(("law", "days"), [("gdpr", 30), ("ccpa", 45), ("pipl", 15)])
def test_the_deadline_follows_the_law(client: TestClient, ada: dict[str, Any], law: str, days: int) -> None:
    received = datetime.now(UTC).date() - timedelta(days=2)

    answer = _ok(client.post(BASE, json={"kind": "access", "law": law, "email": "ada.wu@example.com",
                                         "received_on": received.isoformat()}))

    assert datetime.fromisoformat(answer["received_at"]) == datetime(
        received.year, received.month, received.day, tzinfo=UTC)
    due = datetime.fromisoformat(answer["due_at"]) - datetime.fromisoformat(answer["received_at"])
    assert due == timedelta(days=days)
    assert answer["days_left"] == days - 3  # two days ago, counted in whole days left
    assert answer["status"] == "received"
    assert answer["overdue"] is False


def test_a_request_past_its_deadline_is_overdue_and_listed_first(
    client: TestClient, ada: dict[str, Any]
) -> None:
    # given an old GDPR request, a fresh one and a completed one
    late = _ok(client.post(BASE, json={"kind": "access", "subject": f"contacts:{ada['id']}",
                                       "received_on": (datetime.now(UTC).date() - timedelta(days=40)).isoformat()}))
    fresh = _ok(client.post(BASE, json={"kind": "erasure", "law": "ccpa", "phone": "13811112222"}))
    done = _ok(client.post(BASE, json={"kind": "access", "subject": f"contacts:{ada['other']}"}))
    _ok(client.post(f"{BASE}/{done['id']}/run"), 200)

    # when the requests are listed
    everything = _ok(client.get(BASE), 200)["items"]
    overdue = _ok(client.get(BASE, params={"overdue": "true"}), 200)["items"]
    erasures = _ok(client.get(BASE, params={"kind": "erasure"}), 200)["items"]
    completed = _ok(client.get(BASE, params={"status": "completed"}), 200)["items"]

    # then open requests come first, soonest deadline first, and the late one is flagged
    assert [r["id"] for r in everything] == [late["id"], fresh["id"], done["id"]]
    assert [r["id"] for r in overdue] == [late["id"]]
    assert overdue[0]["overdue"] is True
    assert overdue[0]["days_left"] < 0
    assert [r["id"] for r in erasures] == [fresh["id"]]
    assert [r["id"] for r in completed] == [done["id"]]
    assert completed[0]["overdue"] is False


def test_the_person_is_found_by_phone_and_named_by_record(client: TestClient, ada: dict[str, Any]) -> None:
    answer = _ok(client.post(BASE, json={"kind": "access", "phone": "138-1111-2222"}))

    assert answer["subject"] == f"contacts:{ada['id']}"
    assert answer["subject_pseudonym"].startswith("p_")


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "access", "email": "ada.wu@example.com", "phone": "13811112222"}, "subject"),
    ({"kind": "access"}, "subject"),
    ({"kind": "access", "email": "not an email"}, "email"),
    ({"kind": "access", "subject": "accounts:1"}, None),
    ({"kind": "delete", "email": "ada.wu@example.com"}, "kind"),
    ({"kind": "access", "law": "hipaa", "email": "ada.wu@example.com"}, "law"),
    ({"kind": "access", "email": "ada.wu@example.com", "received_on": "2999-01-01"}, "received_on"),
    ({"kind": "access", "email": "ada.wu@example.com", "owner": 1}, "owner"),
])
def test_bad_requests_say_what_to_fix(
    client: TestClient, ada: dict[str, Any], body: dict[str, Any], field: str | None
) -> None:
    answer = client.post(BASE, json=body)

    assert answer.status_code == 422, answer.text
    if field:
        assert field in [e["field"] for e in answer.json()["errors"]]


def test_nobody_by_that_address_is_a_404_saying_nothing_is_held(client: TestClient) -> None:
    answer = client.post(BASE, json={"kind": "access", "email": "nobody@example.com"})

    assert answer.status_code == 404
    assert "nothing is held" in answer.json()["detail"]


def test_the_request_shows_what_is_held_before_it_runs(client: TestClient, ada: dict[str, Any]) -> None:
    request = _ok(client.post(BASE, json={"kind": "erasure", "email": "ada.wu@example.com"}))

    answer = _ok(client.get(f"{BASE}/{request['id']}"), 200)

    held = answer["holdings"]
    assert held["records"]["contacts"] == [ada["id"]]
    assert held["records"]["tickets"] == [ada["ticket"]]
    assert held["stores"]["activities"] == 2
    assert held["stores"]["tasks"] == 1
    assert held["stores"]["change_records"] == 6  # created: contact, ticket, 2 calls, task; 1 update
    assert held["stores"]["audit_log"] == 1  # the dsr_created entry


def test_an_access_bundle_holds_everything_about_the_person_and_nothing_else(
    client: TestClient, container: Container, ada: dict[str, Any]
) -> None:
    # given an access request
    request = _ok(client.post(BASE, json={"kind": "access", "email": "ADA.WU@example.com"}))

    # when it is answered and the bundle downloaded
    started = time.perf_counter()
    answer = _ok(client.post(f"{BASE}/{request['id']}/run"), 200)
    bundle = client.get(f"{BASE}/{request['id']}/bundle")
    elapsed = time.perf_counter() - started

    # then the request is completed and its report holds counts only
    assert answer["status"] == "completed"
    assert answer["report"]["counts"]["activities"] == 2
    assert "ada.wu@example.com" not in orjson.dumps(answer).decode()
    # and the ZIP has one JSON document and one CSV per store that holds something
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/zip"
    assert "attachment" in bundle.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    names = set(archive.namelist())
    assert {"README.txt", "subject.json", "contacts.csv", "activities.csv", "tasks.csv",
            "tickets.csv", "change_records.csv", "outbox.csv", "search_index.csv",
            "audit_log.csv", "dsr_requests.csv"} <= names
    document = orjson.loads(archive.read("subject.json"))
    stores = document["stores"]
    assert [c["email"] for c in stores["contacts"]["rows"]] == ["ada.wu@example.com"]
    assert sorted(a["subject"] for a in stores["activities"]["rows"]) == ["Call", "Ticket reply"]
    assert {c["action"] for c in stores["change_records"]["rows"]} == {"created", "updated"}
    assert {e["action"] for e in stores["audit_log"]["rows"]} >= {"dsr_created", "dsr_access"}
    assert stores["contacts"]["holds"]
    assert "bo.wu@example.com" not in archive.read("subject.json").decode()
    # and a formula-like value is escaped in the CSV, kept verbatim in the JSON
    rows = list(csv.DictReader(io.StringIO(archive.read("contacts.csv").decode("utf-8-sig"))))
    assert rows[0]["notes"] == "'=HYPERLINK(\"x\")"
    assert stores["contacts"]["rows"][0]["notes"] == "=HYPERLINK(\"x\")"
    # within seconds
    assert elapsed < 5
    # and each download is audited by pseudonym
    with container.session_factory() as session:
        downloads = [e for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "dsr_access"))
                     if e.details.get("download")]
        assert len(downloads) == 1
        assert downloads[0].target == pseudonym(container.settings.secret_key, "contacts", ada["id"])


def test_the_request_row_keeps_no_personal_data(
    client: TestClient, container: Container, ada: dict[str, Any]
) -> None:
    request = _ok(client.post(BASE, json={"kind": "access", "email": "ada.wu@example.com"}))
    _ok(client.post(f"{BASE}/{request['id']}/run"), 200)
    client.get(f"{BASE}/{request['id']}/bundle")

    with container.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM dsr_requests")).mappings().one()
    assert "ada" not in orjson.dumps(dict(row), default=str).decode().lower()


def test_a_rejected_request_cannot_run_or_give_a_bundle(client: TestClient, ada: dict[str, Any]) -> None:
    request = _ok(client.post(BASE, json={"kind": "access", "email": "ada.wu@example.com",
                                          "notes": "by e-mail"}))

    rejected = _ok(client.post(f"{BASE}/{request['id']}/reject",
                               json={"reason": "identity not verified"}), 200)

    assert rejected["status"] == "rejected"
    assert rejected["completed_at"]
    assert rejected["notes"] == "by e-mail\nRejected: identity not verified"
    assert client.post(f"{BASE}/{request['id']}/run").status_code == 409
    assert client.get(f"{BASE}/{request['id']}/bundle").status_code == 409
    assert client.post(f"{BASE}/{request['id']}/reject", json={"reason": "again"}).status_code == 409
    assert client.post(f"{BASE}/{request['id']}/reject", json={"reason": " "}).status_code == 422


def test_an_erasure_request_has_no_bundle(client: TestClient, ada: dict[str, Any]) -> None:
    request = _ok(client.post(BASE, json={"kind": "erasure", "email": "ada.wu@example.com"}))

    assert client.get(f"{BASE}/{request['id']}/bundle").status_code == 409


def test_unknown_requests_are_404(client: TestClient) -> None:
    assert client.get(f"{BASE}/99").status_code == 404
    assert client.post(f"{BASE}/99/run").status_code == 404
    assert client.get(f"{BASE}/99/bundle").status_code == 404
    assert client.post(f"{BASE}/99/reject", json={"reason": "x"}).status_code == 404


def test_without_privacy_manage_every_route_is_forbidden(rep_client: TestClient, client: TestClient,
                                                         ada: dict[str, Any]) -> None:
    request = _ok(client.post(BASE, json={"kind": "access", "email": "ada.wu@example.com"}))

    answers = [
        rep_client.post(BASE, json={"kind": "access", "email": "ada.wu@example.com"}),
        rep_client.get(BASE),
        rep_client.get(f"{BASE}/{request['id']}"),
        rep_client.post(f"{BASE}/{request['id']}/run"),
        rep_client.get(f"{BASE}/{request['id']}/bundle"),
        rep_client.post(f"{BASE}/{request['id']}/reject", json={"reason": "x"}),
    ]

    assert [a.status_code for a in answers] == [403] * 6


def test_a_privacy_officer_who_is_not_an_admin_handles_requests(
    app: FastAPI, container: Container, client: TestClient, ada: dict[str, Any]
) -> None:
    with container.uow() as uow:
        officer = create_user(uow.session, "dpo@example.com", PASSWORD, name="Dee Officer")
        set_user_roles(uow.session, container.settings.secret_key, None, officer.user_id,
                       ["privacy_officer"])
        token = create_api_token(uow.session, "dpo@example.com")
        uow.commit()
    with TestClient(app, raise_server_exceptions=False) as dpo:
        dpo.headers["Authorization"] = f"Bearer {token}"
        request = _ok(dpo.post(BASE, json={"kind": "access", "email": "ada.wu@example.com"}))
        assert _ok(dpo.post(f"{BASE}/{request['id']}/run"), 200)["status"] == "completed"
    with container.session_factory() as session:
        row = session.get(DataSubjectRequest, request["id"])
        assert row is not None
        assert row.requested_by == officer.user_id
