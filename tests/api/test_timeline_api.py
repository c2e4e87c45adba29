"""Change records (who, when, field, old -> new) and the record timeline that pages them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.crm.changes import ChangeRecord


def changes_of(container: Container, object_type: str, record_id: int) -> list[ChangeRecord]:
    with container.session_factory() as session:
        return list(session.scalars(
            select(ChangeRecord)
            .where(ChangeRecord.object_type == object_type, ChangeRecord.record_id == record_id)
            .order_by(ChangeRecord.id)
        ))


def test_create_update_and_delete_each_leave_a_change_record(
    client: TestClient, rep_client: TestClient, container: Container
) -> None:
    admin_id = client.get("/api/v1/me").json()["user_id"]
    rep_id = rep_client.get("/api/v1/me").json()["user_id"]
    before = datetime.now(UTC) - timedelta(seconds=5)

    # given a contact created by the admin, edited by the rep, then deleted by the admin
    contact = client.post("/api/v1/contacts", json={
        "first_name": "Ines", "last_name": "Duarte", "email": "ines.duarte@example.com",
        "owner_id": rep_id}).json()  # the rep's own contact: reps change only their own
    rep_client.patch(f"/api/v1/contacts/{contact['id']}",
                     json={"job_title": "Head of Quality", "email": "ines@example.com"})
    client.delete(f"/api/v1/contacts/{contact['id']}")

    # then three change records say who did what, when, from which value to which
    created, updated, deleted = changes_of(container, "contacts", contact["id"])
    assert (created.action, created.actor_user_id, created.source) == ("created", admin_id, "api")
    assert created.changes["last_name"] == [None, "Duarte"]
    assert created.changes["email"] == [None, "ines.duarte@example.com"]
    assert created.changes["owner_id"] == [None, rep_id]
    assert (updated.action, updated.actor_user_id) == ("updated", rep_id)
    assert updated.changes == {"job_title": [None, "Head of Quality"],
                               "email": ["ines.duarte@example.com", "ines@example.com"]}
    assert (deleted.action, deleted.actor_user_id) == ("deleted", admin_id)
    assert deleted.changes["email"] == ["ines@example.com", None]
    assert deleted.changes["job_title"] == ["Head of Quality", None]
    for record in (created, updated, deleted):
        assert before <= record.occurred_at <= datetime.now(UTC)
        assert record.occurred_at.utcoffset() == timedelta(0)


def test_an_update_that_changes_nothing_leaves_no_change_record(
    client: TestClient, container: Container
) -> None:
    contact = client.post("/api/v1/contacts", json={"last_name": "Duarte"}).json()
    same = client.patch(f"/api/v1/contacts/{contact['id']}", json={"last_name": "Duarte"})
    assert same.status_code == 200
    assert same.json()["version"] == 1
    assert [c.action for c in changes_of(container, "contacts", contact["id"])] == ["created"]


def test_the_timeline_merges_activities_and_changes_newest_first(client: TestClient) -> None:
    # given an account with two changes and three activities at known times
    account = client.post("/api/v1/accounts", json={"name": "Example Dairy"}).json()
    client.patch(f"/api/v1/accounts/{account['id']}", json={"tier": "A"})
    for subject, at in (("Intro call", "2020-01-01T09:00:00+00:00"),
                        ("Site visit", "2020-02-01T09:00:00+00:00"),
                        ("Follow-up", "2099-01-01T09:00:00+00:00")):
        client.post("/api/v1/activities", json={
            "type": "meeting", "subject": subject, "occurred_at": at, "account_id": account["id"]})

    timeline = client.get(f"/api/v1/accounts/{account['id']}/timeline").json()
    kinds = [(i["kind"], i.get("subject") or i.get("action")) for i in timeline["items"]]
    assert kinds == [("activity", "Follow-up"), ("change", "updated"), ("change", "created"),
                     ("activity", "Site visit"), ("activity", "Intro call")]
    assert timeline["items"][1]["changes"] == {"tier": [None, "A"]}
    assert timeline["next_cursor"] is None


def test_timeline_pages_hold_every_item_exactly_once(client: TestClient) -> None:
    # given a contact with seven changes and eight activities
    contact = client.post("/api/v1/contacts", json={"last_name": "Achebe"}).json()
    for i in range(6):
        client.patch(f"/api/v1/contacts/{contact['id']}", json={"job_title": f"Role {i}"})
    for day in range(1, 9):
        client.post("/api/v1/activities", json={
            "type": "note", "subject": f"Note {day}", "contact_id": contact["id"],
            "occurred_at": f"2026-01-0{day}T12:00:00+00:00"})
    whole = client.get(f"/api/v1/contacts/{contact['id']}/timeline", params={"limit": 50}).json()
    assert len(whole["items"]) == 15

    # when it is read three items at a time
    seen: list[tuple[str, int]] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if before:
            params["before"] = before
        page = client.get(f"/api/v1/contacts/{contact['id']}/timeline", params=params)
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 3
        seen.extend((i["kind"], i["id"]) for i in page.json()["items"])
        before = page.json()["next_cursor"]
        if not before:
            break

    # then the pages hold the same items in the same order as the whole timeline
    assert seen == [(i["kind"], i["id"]) for i in whole["items"]]
    assert len(set(seen)) == 15


def test_timeline_of_an_unknown_record_or_with_a_bad_cursor(client: TestClient) -> None:
    assert client.get("/api/v1/contacts/424242/timeline").status_code == 404
    contact = client.post("/api/v1/contacts", json={"last_name": "Achebe"}).json()
    bad = client.get(f"/api/v1/contacts/{contact['id']}/timeline", params={"before": "garbage"})
    assert bad.status_code == 422
