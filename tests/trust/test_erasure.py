"""Erasure leaves zero residue (issue 3 acceptance).

A unique marker is planted in every text column of one person's contact, lead, activities,
tasks, tickets, custom fields, consent evidence, a saved view filter and an idempotent API
answer; updates put it into change records and outbox events too. After the erasure every
table of the database, read from the database's own catalogue (FTS5 shadow tables
included), is scanned for the marker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, text

from rapport.bootstrap import Container
from rapport.crm.saved_views import save_view
from rapport.trust import audit
from rapport.trust.models import AuditEntry, Suppression, User
from rapport.trust.pseudonym import pseudonym
from tests.fixtures.api import ADMIN_EMAIL

CUSTOM_TEXT_OBJECTS = ("contacts", "leads", "activities", "tasks", "tickets")


@dataclass
class Person:
    marker: str
    email: str
    phone: str
    mobile: str
    ids: dict[str, list[int]] = field(default_factory=dict)

    def add(self, table: str, record_id: int) -> None:
        self.ids.setdefault(table, []).append(record_id)

    @property
    def contact(self) -> int:
        return self.ids["contacts"][0]


def _ok(answer: Any, status: int = 201) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def schema(client: TestClient, sales_pipeline: dict[str, int]) -> dict[str, int]:
    """A custom text field on every person-related object and a custom reference field on
    opportunities pointing at contacts; an account both people work for."""
    for object_type in CUSTOM_TEXT_OBJECTS:
        _ok(client.post("/api/v1/custom-fields", json={
            "object_type": object_type, "name": "remark", "label": "Remark", "field_type": "text"}))
    _ok(client.post("/api/v1/custom-fields", json={
        "object_type": "opportunities", "name": "champion", "label": "Champion",
        "field_type": "reference", "reference_object": "contacts"}))
    account = _ok(client.post("/api/v1/accounts", json={"name": "Hangzhou Precision Ltd"}))
    return {"account": account["id"], **sales_pipeline}


def plant(client: TestClient, container: Container, schema: dict[str, int], n: int) -> Person:
    """A person with the marker in every text column of everything about them."""
    m = "zq" + uuid.uuid4().hex
    p = Person(marker=m, email=f"{m}@example.com", phone=f"+86 138 {n:04d} {n:04d}",
               mobile=f"+86 139 {n:04d} {n:04d}")
    contact = _ok(client.post("/api/v1/contacts", headers={"Idempotency-Key": f"c-{m}"}, json={
        "first_name": f"Ada{m}", "last_name": f"Lovelace{m}", "email": p.email.upper(),
        "phone": p.phone, "mobile": p.mobile, "job_title": f"Engineer {m}", "department": f"R&D {m}",
        "city": f"Hangzhou {m}", "external_id": f"ext-{m}", "notes": f"Met at fair {m}",
        "account_id": schema["account"], "custom": {"remark": f"likes tea {m}"},
    }))
    p.add("contacts", contact["id"])
    lead = _ok(client.post("/api/v1/leads", json={
        "first_name": f"Ada{m}", "last_name": f"Lovelace{m}", "email": p.email,
        "phone": p.phone, "company": f"Precision {m}", "job_title": f"Buyer {m}",
        "external_id": f"lead-{m}", "notes": f"Web form {m}", "custom": {"remark": f"lead {m}"},
    }))
    p.add("leads", lead["id"])
    ticket = _ok(client.post("/api/v1/tickets", json={
        "subject": f"Broken sensor {m}", "description": f"Serial {m}", "contact_id": contact["id"],
        "account_id": schema["account"], "external_id": f"tk-{m}", "custom": {"remark": m},
    }))
    p.add("tickets", ticket["id"])
    for link in ({"contact_id": contact["id"]}, {"lead_id": lead["id"]}, {"ticket_id": ticket["id"]}):
        headers = {"Idempotency-Key": f"a-{m}"} if "contact_id" in link else {}
        activity = _ok(client.post("/api/v1/activities", headers=headers, json={
            "type": "email", "direction": "inbound", "subject": f"Hello {m}", "body": f"Dear {m}",
            "occurred_at": "2026-01-05T10:00:00Z", "participants": [p.email, f"{m} assistant"],
            "custom": {"remark": f"activity {m}"}, **link,
        }))
        p.add("activities", activity["id"])
    for link in ({"contact_id": contact["id"]}, {"lead_id": lead["id"]}):
        task = _ok(client.post("/api/v1/tasks", json={
            "title": f"Call back {m}", "description": f"About {m}", "custom": {"remark": m}, **link,
        }))
        p.add("tasks", task["id"])
    # the account's own records: they stay, without the person
    deal = _ok(client.post("/api/v1/opportunities", json={
        "name": f"Sensors for plant {n}", "account_id": schema["account"],
        "contact_id": contact["id"], "custom": {"champion": contact["id"]},
    }))
    p.add("kept_opportunities", deal["id"])
    quote = _ok(client.post("/api/v1/quotes", json={
        "number": f"Q-{n}-{m[:6]}", "account_id": schema["account"], "contact_id": contact["id"],
        "opportunity_id": deal["id"],
    }))
    p.add("kept_quotes", quote["id"])
    meeting = _ok(client.post("/api/v1/activities", json={
        "type": "meeting", "subject": f"Plant visit {n}", "occurred_at": "2026-01-06T10:00:00Z",
        "account_id": schema["account"], "participants": ["sales@example.com", p.email],
    }))
    p.add("kept_activities", meeting["id"])
    # history: before/after values with the marker in change records and outbox events
    _ok(client.patch(f"/api/v1/contacts/{contact['id']}", json={"notes": f"Second visit {m}"}), 200)
    _ok(client.patch(f"/api/v1/leads/{lead['id']}", json={"notes": f"Called {m}"}), 200)
    _ok(client.patch(f"/api/v1/activities/{p.ids['activities'][0]}", json={"body": f"Re: {m}"}), 200)
    _ok(client.post("/api/v1/consents", headers={"Idempotency-Key": f"k-{m}"}, json={
        "subject": f"contacts:{contact['id']}", "purpose": "marketing_email", "status": "granted",
        "lawful_basis": "consent", "source": "web_form", "evidence": f"Form v3 signed by {m}",
    }))
    with container.uow() as uow:
        admin = uow.session.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
        assert admin is not None
        save_view(uow, admin, "contacts", f"Follow up {n}",
                  {"q": "", "filters": [f"email:eq:{p.email}"], "sort": ""}, [])
        uow.commit()
    plant_hub(client, container, p, n)
    return p


def plant_hub(client: TestClient, container: Container, p: Person, n: int) -> None:
    """The data hub: web events (anonymous, then identified with the e-mail), stitched into a
    profile linked to the contact, plus a dead letter holding the marker."""
    import base64

    from rapport.events.hub_models import HubEvent
    from rapport.events.pipeline import process_events

    m = p.marker
    key = _ok(client.post("/api/v1/sources", json={"name": f"Website {n}", "channel": "web"}))
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key['write_key']}:".encode()).decode()}
    context = {"page": {"url": f"https://example.com/{m}"}, "userAgent": f"Agent {m}"}
    _ok(client.post("/v1/page", headers=auth, json={
        "anonymousId": f"anon-{m}", "name": f"Pricing {m}", "properties": {"ref": m},
        "context": context, "messageId": f"p-{m}"}), 200)
    _ok(client.post("/v1/identify", headers=auth, json={
        "anonymousId": f"anon-{m}", "userId": f"user-{m}", "context": context,
        "traits": {"email": p.email, "phone": p.phone, "name": f"Ada {m}"},
        "messageId": f"i-{m}"}), 200)
    bad = client.post("/v1/track", headers=auth, json={
        "event": f"Viewed {m}", "properties": {"note": m, "contact_email": p.email}})
    assert bad.status_code == 400, bad.text  # no identity: a dead letter with her e-mail
    with container.uow() as uow:
        pending = list(uow.session.scalars(
            select(HubEvent).where(HubEvent.processed_at.is_(None)).order_by(HubEvent.id)))
        process_events(uow.session, container.settings, pending)
        uow.commit()


# ---- scanning the whole database ---------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_hits(conn: Connection, needles: list[str]) -> list[str]:
    """``table.column`` of every cell holding one of ``needles``, in every table the
    database catalogue lists (FTS5 shadow tables and search tables included)."""
    hits: list[str] = []
    if conn.dialect.name == "sqlite":
        tables = [r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))]
        for table in tables:
            columns = [r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({_quote(table)})")]
            for column in columns:
                for needle in needles:
                    found = conn.execute(text(
                        f"SELECT count(*) FROM {_quote(table)} WHERE "  # noqa: S608
                        f"CAST({_quote(column)} AS TEXT) LIKE :like "
                        f"OR instr(CAST({_quote(column)} AS BLOB), :raw) > 0"),
                        {"like": f"%{needle}%", "raw": needle.encode()}).scalar()
                    if found:
                        hits.append(f"{table}.{column}")
        return sorted(set(hits))
    rows = conn.execute(text(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
        "AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'")).all()
    for table, column, data_type in rows:
        for needle in needles:
            if data_type == "bytea":
                condition = f"position(convert_to(:raw, 'UTF8') in {_quote(column)}) > 0"
            else:
                condition = f"CAST({_quote(column)} AS TEXT) LIKE :like"
            found = conn.execute(text(
                f"SELECT count(*) FROM {_quote(table)} WHERE {condition}"),  # noqa: S608
                {"like": f"%{needle}%", "raw": needle}).scalar()
            if found:
                hits.append(f"{table}.{column}")
    return sorted(set(hits))


def needles_of(p: Person) -> list[str]:
    # the marker, and its tail: FTS5 stores terms prefix-compressed, so a token's first
    # letters may be shared with the term before it inside an index segment
    return [p.marker, p.marker[-20:], p.phone.replace(" ", "")]


def _erase(client: TestClient, email: str) -> dict[str, Any]:
    request = _ok(client.post("/api/v1/privacy/requests",
                              json={"kind": "erasure", "law": "gdpr", "email": email}))
    return _ok(client.post(f"/api/v1/privacy/requests/{request['id']}/run"), 200)


def _history_count(conn: Connection, p: Person, table: str) -> int:
    total = 0
    for name in ("contacts", "leads", "activities", "tasks", "tickets"):
        for rid in p.ids.get(name, []):
            if table == "change_records":
                total += conn.execute(text(
                    "SELECT count(*) FROM change_records WHERE object_type = :o AND record_id = :i"),
                    {"o": name, "i": rid}).scalar() or 0
    return total


# ---- the acceptance test -----------------------------------------------------------------


def test_erasure_leaves_no_trace_of_the_person_in_any_table(
    client: TestClient, container: Container, schema: dict[str, int]
) -> None:
    # given a person planted everywhere, and another person with similar data
    ada = plant(client, container, schema, 1)
    bob = plant(client, container, schema, 2)
    with container.engine.connect() as conn:
        assert database_hits(conn, needles_of(ada)), "the marker was not planted"
        history = _history_count(conn, ada, "change_records")
        bob_before = database_hits(conn, needles_of(bob))

    # when a privacy officer erases Ada, found by her e-mail address
    answer = _erase(client, ada.email)

    # then the request is completed with per-store counts that match what was planted
    assert answer["status"] == "completed"
    report = answer["report"]
    erased = {name: store["erased"] for name, store in report["stores"].items()}
    assert erased == {
        "activities": 3, "tasks": 2, "tickets": 1, "opportunities": 1, "quotes": 1,
        "custom_references": 1, "activity_participants": 1, "leads": 1, "contacts": 1,
        "change_records": history, "outbox": history, "search_index": 8,
        "idempotency_keys": 3, "saved_views": 1, "consents": 1, "audit_log": 0,
        "dsr_requests": 0,
        # the data hub: 2 events and the dead letter; the profile and its 4 identifiers
        # (anonymous id, user id, e-mail, phone) plus the link to the contact
        "events": 2, "dead_letters": 1, "profiles": 1,
        "identities": erased["identities"], "profile_merges": 0, "merge_reviews": 0,
    }
    assert erased["identities"] >= 4
    assert report["residue_check"] == "clean"
    assert all(store["residue"] == 0 for store in report["stores"].values())
    assert report["suppressed"] == {"email": 1, "phone": 2, "external_id": 2}
    # and the database's own clean-up ran after the commit
    maintenance = client.get(f"/api/v1/privacy/requests/{answer['id']}").json()["report"]["maintenance"]
    assert "error" not in maintenance
    if container.engine.dialect.name == "sqlite":
        assert maintenance["wal_checkpoint"] == "done"
    else:
        assert {"contacts", "change_records", "outbox", "search_contacts"} <= set(maintenance["vacuumed"])
    # and no table anywhere still holds the marker or the phone number
    with container.engine.connect() as conn:
        assert database_hits(conn, needles_of(ada)) == []
        # and the other person is untouched
        assert database_hits(conn, needles_of(bob)) == bob_before
    assert client.get(f"/api/v1/contacts/{ada.contact}").status_code == 404
    assert client.get(f"/api/v1/contacts/{bob.contact}").status_code == 200
    found = client.get("/api/v1/contacts", params={"q": bob.marker}).json()["items"]
    assert [c["id"] for c in found] == [bob.contact]
    assert client.get("/api/v1/contacts", params={"q": ada.marker}).json()["items"] == []
    # and the account's records stay, without Ada
    deal = client.get(f"/api/v1/opportunities/{ada.ids['kept_opportunities'][0]}").json()
    assert deal["contact_id"] is None
    assert deal["custom"]["champion"] is None
    quote = client.get(f"/api/v1/quotes/{ada.ids['kept_quotes'][0]}").json()
    assert quote["contact_id"] is None
    meeting = client.get(f"/api/v1/activities/{ada.ids['kept_activities'][0]}").json()
    assert meeting["participants"] == ["sales@example.com", "[erased]"]


def test_the_erasure_is_audited_by_pseudonym_and_the_chain_still_verifies(
    client: TestClient, container: Container, schema: dict[str, int]
) -> None:
    # given a planted person
    ada = plant(client, container, schema, 3)

    # when she is erased
    answer = _erase(client, ada.email)

    # then one dsr_erasure entry names her by pseudonym with per-store counts, no clear value
    alias = pseudonym(container.settings.secret_key, "contacts", ada.contact)
    with container.session_factory() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "dsr_erasure")))
        assert len(entries) == 1
        entry = entries[0]
        assert entry.target == alias
        assert entry.details["request_id"] == answer["id"]
        assert entry.details["erased"]["contacts"] == 1
        dumped = str(entry.details) + str(entry.target)
        assert ada.marker not in dumped
        assert ada.email not in dumped
        assert audit.verify(session, container.settings.secret_key).ok
        # and the ledger holds keyed hashes only
        hashes = list(session.scalars(select(Suppression.key_hash)))
        assert len(hashes) == 5
        assert all(len(h) == 64 for h in hashes)


def test_the_person_of_a_converted_lead_is_erased_through_the_lead(
    client: TestClient, container: Container, schema: dict[str, int]
) -> None:
    # given a lead converted into a contact (no shared e-mail: the conversion links them)
    lead = _ok(client.post("/api/v1/leads", json={"last_name": "Zhou", "company": "Zhou Trading",
                                                   "phone": "+86 137 0000 0007"}))
    converted = _ok(client.post(f"/api/v1/leads/{lead['id']}/convert",
                                json={"create_opportunity": False}), 200)
    contact_id = converted["contact_id"]

    # when the lead is erased by record reference
    request = _ok(client.post("/api/v1/privacy/requests",
                              json={"kind": "erasure", "subject": f"leads:{lead['id']}"}))
    answer = _ok(client.post(f"/api/v1/privacy/requests/{request['id']}/run"), 200)

    # then the contact made from it is gone too
    assert answer["report"]["records"] == {"contacts": 1, "leads": 1, "tickets": 0,
                                           "activities": 0, "tasks": 0}
    assert client.get(f"/api/v1/contacts/{contact_id}").status_code == 404
    assert client.get(f"/api/v1/leads/{lead['id']}").status_code == 404


def test_a_second_run_of_a_completed_erasure_is_refused(
    client: TestClient, container: Container, schema: dict[str, int]
) -> None:
    ada = plant(client, container, schema, 4)
    answer = _erase(client, ada.email)

    again = client.post(f"/api/v1/privacy/requests/{answer['id']}/run")

    assert again.status_code == 409
    assert "completed" in again.json()["detail"]


def test_sqlite_file_holds_no_trace_after_the_erasure(
    client: TestClient, container: Container, schema: dict[str, int]
) -> None:
    """secure_delete zeroes what the erasure frees and the WAL is checkpointed and truncated;
    the database file is read byte by byte.

    The erasure connection always deletes securely, but free space inside pages can still
    hold stale copies of cells that earlier, ordinary writes moved (b-tree rebalancing) when
    every connection does not also delete securely. Debian's SQLite turns secure_delete on by
    default; where a build does not, this test documents the gap instead of passing.
    """
    if container.engine.dialect.name != "sqlite":
        pytest.skip("file-level check of the SQLite database file")
    with container.engine.connect() as conn:
        everywhere = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    if not everywhere:
        pytest.xfail("secure_delete is off for ordinary connections: stale cell copies from "
                     "earlier writes may survive in page free space")
    ada = plant(client, container, schema, 5)

    _erase(client, ada.email)

    path = Path(container.engine.url.database or "")
    with container.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [path, path.with_name(path.name + "-wal")]
    content = b"".join(f.read_bytes() for f in files if f.exists())
    leftovers = [n for n in needles_of(ada) if n.encode() in content]
    assert leftovers == []


@dataclass(frozen=True)
class _Stubborn:
    """A store that claims to hold something it never erases."""

    name: str = "stubborn"
    holds: str = "something"
    action: str = "nothing, on purpose"
    erases: bool = True

    def find(self, session: Any, subject: Any) -> int:
        return 1

    def export(self, session: Any, subject: Any) -> list[dict[str, Any]]:
        return []

    def erase(self, session: Any, subject: Any) -> int:
        return 0


def test_residue_rolls_the_whole_erasure_back(
    client: TestClient, container: Container, schema: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rapport.trust import erasure

    # given a store that keeps something back
    monkeypatch.setattr(erasure, "STORES", [*erasure.STORES, _Stubborn()])
    ada = plant(client, container, schema, 6)

    # when the erasure runs
    answer = _erase(client, ada.email)

    # then nothing was erased, the request stays open and the report says where
    assert answer["status"] == "in_progress"
    assert answer["report"]["residue_check"] == "residue found"
    assert answer["report"]["stores"]["stubborn"]["residue"] == 1
    assert client.get(f"/api/v1/contacts/{ada.contact}").status_code == 200
    with container.session_factory() as session:
        assert list(session.scalars(select(Suppression.key_hash))) == []
        assert not list(session.scalars(select(AuditEntry).where(AuditEntry.action == "dsr_erasure")))


def test_downstream_consumers_are_told_which_records_to_forget(
    client: TestClient, container: Container, schema: dict[str, int]
) -> None:
    ada = plant(client, container, schema, 7)

    answer = _erase(client, ada.email)

    with container.engine.connect() as conn:
        rows = conn.execute(text("SELECT topic, payload FROM outbox WHERE topic = 'privacy.subject_erased'")).all()
    assert len(rows) == 1
    payload = rows[0][1] if isinstance(rows[0][1], dict) else orjson.loads(rows[0][1])
    assert payload["request_id"] == answer["id"]
    assert payload["subject"] == answer["subject_pseudonym"]
    assert payload["records"]["contacts"] == [ada.contact]
    assert sorted(payload["records"]["activities"]) == sorted(ada.ids["activities"])


def test_a_new_contact_never_takes_the_id_of_an_erased_one(client: TestClient) -> None:
    # given the newest contact is deleted (as an erasure does)
    first = client.post("/api/v1/contacts", json={"last_name": "Kept"}).json()["id"]
    gone = client.post("/api/v1/contacts", json={"last_name": "Erased"}).json()["id"]
    assert client.delete(f"/api/v1/contacts/{gone}").status_code == 204
    # when another contact is created
    new = client.post("/api/v1/contacts", json={"last_name": "Newcomer"}).json()["id"]
    # then it gets a fresh id, so pseudonyms in the audit log keep naming one person
    assert new not in (first, gone)
    assert new > gone
