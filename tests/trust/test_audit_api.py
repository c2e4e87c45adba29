"""The audit API: filtered, keyset-paginated list; verification; audited JSON-lines export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from rapport.bootstrap import Container
from rapport.trust import audit
from rapport.trust.auth import create_api_token, create_user
from rapport.trust.models import AuditEntry
from rapport.trust.roles import set_user_roles
from tests.fixtures.api import PASSWORD

API = "/api/v1/audit"


@pytest.fixture
def entries(container: Container, api_tokens: dict[str, str]) -> list[int]:
    """Twelve entries after whatever the fixtures logged: reveals by user 7, logins by 8."""
    ids = []
    with container.uow() as uow:
        for n in range(12):
            entry = audit.append(
                uow.session, container.settings.secret_key, "reveal" if n % 2 else "login",
                actor=audit.actor_ref(7 if n % 2 else 8), target=f"accounts:{n}",
                details={"n": n})
            ids.append(entry.id)
        uow.commit()
    return ids


@pytest.fixture
def auditor_client(app: FastAPI, container: Container, api_tokens: dict[str, str]) -> TestClient:
    with container.uow() as uow:
        user = create_user(uow.session, "auditor@example.com", PASSWORD, name="Avi Auditor")
        set_user_roles(uow.session, container.settings.secret_key, None, user.user_id, ["auditor"])
        token = create_api_token(uow.session, "auditor@example.com")
        uow.commit()
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_pages_run_newest_first_and_the_cursor_reaches_every_entry(
    client: TestClient, entries: list[int]
) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        page = client.get(API, params={"limit": 5, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(seen, reverse=True)
    assert set(entries) <= set(seen)
    assert len(seen) == len(set(seen))


def test_filters_narrow_the_list(client: TestClient, entries: list[int]) -> None:
    reveals = client.get(API, params={"action": "reveal", "actor": "user:7"}).json()["items"]
    one = client.get(API, params={"target": "accounts:3"}).json()["items"]
    none_yet = client.get(API, params={"since": (datetime.now(UTC) + timedelta(hours=1))
                                       .isoformat()}).json()["items"]
    today = client.get(API, params={"since": datetime.now(UTC).date().isoformat(),
                                    "action": "login"}).json()["items"]

    assert [r["id"] for r in reveals] == [i for n, i in enumerate(entries) if n % 2][::-1]
    assert all(r["actor"] == "user:7" for r in reveals)
    assert [r["details"] for r in one] == [{"n": 3}]
    assert none_yet == []
    assert len(today) == 6
    assert set(one[0]) == {"id", "at", "action", "actor", "target", "network", "details",
                           "prev_hash", "hash"}


@pytest.mark.parametrize("params", [
    {"action": "made_up"}, {"since": "2026-01-31T09:00:00"}, {"until": "yesterday"},
    {"cursor": "abc"}, {"limit": 500}, {"since": "2026-02-01", "until": "2026-01-01"},
])
def test_bad_filters_answer_422_saying_what_to_fix(client: TestClient, params: dict[str, object],
                                                   entries: list[int]) -> None:
    answer = client.get(API, params=params)

    assert answer.status_code == 422
    assert answer.json()["detail"]


def test_the_export_streams_json_lines_and_is_itself_audited(
    client: TestClient, container: Container, entries: list[int]
) -> None:
    answer = client.get(f"{API}/export", params={"action": "reveal"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in answer.headers["content-disposition"]
    lines = [orjson.loads(line) for line in answer.content.splitlines()]
    assert [line["id"] for line in lines] == [i for n, i in enumerate(entries) if n % 2]
    assert answer.headers["x-entry-count"] == "6"
    with container.session_factory() as session:
        [logged], _ = audit.list_entries(session, audit.AuditFilter(action="export"), limit=1)
    assert logged.details == {"object": "audit_log", "count": 6, "filters": {"action": "reveal"},
                              "via": "api"}
    assert logged.actor.startswith("user:")


def test_the_exported_lines_re_verify_outside_rapport(client: TestClient, container: Container,
                                                      entries: list[int]) -> None:
    lines = [orjson.loads(x) for x in client.get(f"{API}/export").content.splitlines()]

    previous = audit.GENESIS
    for line in lines:
        entry = audit.Entry(line["id"], datetime.fromisoformat(line["at"]), line["action"],
                            line["actor"], line["target"], line["network"], line["details"],
                            line["prev_hash"], line["hash"])
        assert entry.prev_hash == previous
        assert audit.entry_hash(container.settings.secret_key, entry.prev_hash, entry) == entry.hash
        previous = entry.hash


def test_verify_reports_intact_then_the_tampered_entry(client: TestClient, container: Container,
                                                       entries: list[int]) -> None:
    intact = client.get(f"{API}/verify").json()
    with container.uow() as uow:
        uow.session.execute(update(AuditEntry).where(AuditEntry.id == entries[4])
                            .values(actor="user:1"))
        uow.commit()
    tampered = client.get(f"{API}/verify").json()

    assert intact["ok"] is True
    assert intact["problems"] == []
    assert intact["checked"] >= len(entries)
    assert tampered["ok"] is False
    assert any(p["entry_id"] == entries[4] and p["kind"] == "content"
               for p in tampered["problems"])


@pytest.mark.parametrize("path", ["", "/verify", "/export"])
def test_a_user_without_audit_read_gets_403(rep_client: TestClient, path: str,
                                            entries: list[int]) -> None:
    answer = rep_client.get(f"{API}{path}")

    assert answer.status_code == 403
    assert "audit log" in answer.json()["detail"]


def test_the_auditor_role_reads_the_log(auditor_client: TestClient, entries: list[int]) -> None:
    assert auditor_client.get(API).status_code == 200
    assert auditor_client.get(f"{API}/verify").json()["ok"] is True
