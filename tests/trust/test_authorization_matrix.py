"""Authorization matrix: every built-in role × record routes × record scope × field category.

Expectations are written out by hand below (not derived from the roles' data), so a change
to a built-in role or to the enforcement shows up here as a failing cell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.trust.conftest import OWNERS, Org, ids_of

OBJECTS = ("accounts", "contacts", "leads", "opportunities", "tickets", "activities", "tasks")
ALL_ROLES = ("admin", "manager", "rep_a", "agent", "marketer", "auditor", "privacy",
             "integration", "nobody")

# user -> object -> scope of reads (None: no read right at all)
READ_SCOPE: dict[str, dict[str, str | None]] = {
    "admin": dict.fromkeys(OBJECTS, "all"),
    "manager": dict.fromkeys(OBJECTS, "team"),
    "rep_a": dict.fromkeys(OBJECTS, "own"),
    "agent": {"accounts": "all", "contacts": "all", "leads": None, "opportunities": None,
              "tickets": "region", "activities": "region", "tasks": "own"},
    "marketer": {"accounts": "all", "contacts": "all", "leads": "all", "opportunities": None,
                 "tickets": None, "activities": None, "tasks": None},
    "auditor": dict.fromkeys(OBJECTS, "all"),
    "privacy": dict.fromkeys(OBJECTS, "all"),
    "integration": dict.fromkeys(OBJECTS, "all"),
    "nobody": dict.fromkeys(OBJECTS, None),
}

# user -> object -> the write rights they hold (c, u, d) and export (e)
WRITES: dict[str, dict[str, str]] = {
    "admin": dict.fromkeys(OBJECTS, "cude"),
    "manager": dict.fromkeys(OBJECTS, "cude"),
    "rep_a": {**dict.fromkeys(OBJECTS, "cu"), "tickets": ""},
    "agent": {"accounts": "", "contacts": "u", "leads": "", "opportunities": "",
              "tickets": "cu", "activities": "cu", "tasks": "cu"},
    "marketer": {**dict.fromkeys(OBJECTS, ""), "leads": "cue", "contacts": "e"},
    "auditor": dict.fromkeys(OBJECTS, ""),
    "privacy": dict.fromkeys(OBJECTS, ""),
    "integration": dict.fromkeys(OBJECTS, "cude"),
    "nobody": dict.fromkeys(OBJECTS, ""),
}

# user -> data category -> how values are shown on a contact they can read
VIEW: dict[str, dict[str, str]] = {
    "admin": {"contact.name": "clear", "contact.phone": "masked", "contact.email": "masked",
              "identity": "masked", "health": "masked"},
    "manager": {"contact.name": "clear", "contact.phone": "masked", "contact.email": "masked",
                "identity": "masked", "health": "masked"},
    "rep_a": {"contact.name": "clear", "contact.phone": "masked", "contact.email": "masked",
              "identity": "masked", "health": "masked"},
    "agent": {"contact.name": "clear", "contact.phone": "masked", "contact.email": "masked",
              "identity": "masked", "health": "masked"},
    "marketer": {"contact.name": "clear", "contact.phone": "hidden", "contact.email": "masked",
                 "identity": "masked", "health": "masked"},
    "auditor": {"contact.name": "clear", "contact.phone": "hidden", "contact.email": "hidden",
                "identity": "hidden", "health": "hidden"},
    "privacy": {"contact.name": "clear", "contact.phone": "masked", "contact.email": "masked",
                "identity": "masked", "health": "masked"},
    "integration": {"contact.name": "clear", "contact.phone": "clear", "contact.email": "clear",
                    "identity": "clear", "health": "clear"},
}
# where each category lives on the planted contacts
FIELD_OF = {"contact.name": "last_name", "contact.phone": "phone", "contact.email": "email",
            "identity": "custom.national_id", "health": "custom.allergy"}


def expected_visible(org: Org, user: str, object_name: str) -> set[int]:
    """The oracle: which planted records a user may see, from the org chart alone."""
    scope = READ_SCOPE[user][object_name]
    owned = org.records[object_name]
    if scope is None:
        return set()
    if scope == "all":
        return set(owned.values())
    if scope == "own":
        return {rid for owner, rid in owned.items() if owner == user}
    if scope == "team":
        return {rid for owner, rid in owned.items()
                if owner == user or org.team_of[owner] == org.team_of[user]}
    assert scope == "region"
    return {rid for owner, rid in owned.items()
            if owner == user or org.region_of[owner] == org.region_of[user]}


def planted_ids(org: Org, object_name: str) -> set[int]:
    return set(org.records[object_name].values())


@pytest.mark.parametrize("user", ALL_ROLES)
def test_lists_show_exactly_the_records_in_scope(
    org: Org, as_user: Callable[[str], TestClient], user: str
) -> None:
    client = as_user(user)
    for object_name in OBJECTS:
        answer = client.get(f"/api/v1/{object_name}", params={"limit": 200})
        if READ_SCOPE[user][object_name] is None:
            assert answer.status_code == 403, (user, object_name, answer.text)
            continue
        seen = ids_of(answer) & planted_ids(org, object_name)
        assert seen == expected_visible(org, user, object_name), (user, object_name)


@pytest.mark.parametrize("user", ALL_ROLES)
def test_a_record_outside_the_scope_is_not_found_and_inside_is_read(
    org: Org, as_user: Callable[[str], TestClient], user: str
) -> None:
    client = as_user(user)
    for object_name in OBJECTS:
        visible = expected_visible(org, user, object_name)
        for record_id in planted_ids(org, object_name):
            answer = client.get(f"/api/v1/{object_name}/{record_id}")
            if READ_SCOPE[user][object_name] is None:
                assert answer.status_code == 403, (user, object_name)
            elif record_id in visible:
                assert answer.status_code == 200, (user, object_name, record_id)
            else:  # never 403: ids must not tell whether a record exists
                assert answer.status_code == 404, (user, object_name, record_id)


@pytest.mark.parametrize("user", ALL_ROLES)
def test_search_finds_only_records_in_scope(
    org: Org, as_user: Callable[[str], TestClient], user: str
) -> None:
    client = as_user(user)
    answer = client.get("/api/v1/search", params={"q": "Zqmarker", "limit": 50})
    assert answer.status_code == 200
    found = {i["id"] for i in answer.json()["results"].get("contacts", {}).get("items", [])}
    assert found == expected_visible(org, user, "contacts"), user


@pytest.mark.parametrize("user", [u for u in ALL_ROLES if u != "nobody"])
def test_field_categories_are_shown_as_the_role_allows(
    org: Org, as_user: Callable[[str], TestClient], user: str
) -> None:
    client = as_user(user)
    owner = "rep_a"
    contact_id = org.records["contacts"][owner]
    if contact_id not in expected_visible(org, user, "contacts"):
        owner = next(o for o in OWNERS if org.records["contacts"][o]
                     in expected_visible(org, user, "contacts"))
        contact_id = org.records["contacts"][owner]
    body = client.get(f"/api/v1/contacts/{contact_id}").json()
    planted = org.planted[owner]
    for category, path in FIELD_OF.items():
        expected = VIEW[user][category]
        name = path.removeprefix("custom.")
        holder: dict[str, Any] = body["custom"] if path.startswith("custom.") else body
        clear_value = planted[name]
        if expected == "hidden":
            assert name not in holder, (user, category)
            assert clear_value not in str(body), (user, category)
        elif expected == "masked":
            assert holder[name], (user, category)
            assert holder[name] != clear_value, (user, category, holder[name])
            assert clear_value not in str(body), (user, category)
            assert path in body["_masked"], (user, category)
        else:
            assert holder[name] == clear_value, (user, category)


def _payload(org: Org, object_name: str, user: str) -> dict[str, Any]:
    mine = {"owner_id": org.users[user]} if object_name not in ("tickets", "tasks") else {
        "assignee_id": org.users[user]}
    if user in ("admin", "integration", "nobody", "auditor", "privacy", "marketer") or \
            READ_SCOPE[user][object_name] in ("all", None):
        mine = {}
    return {
        "accounts": {"name": "New Co"},
        "contacts": {"last_name": "New"},
        "leads": {"last_name": "New", "company": "New Co"},
        "opportunities": {"name": "New deal", "account_id": org.records["accounts"]["rep_a"]},
        "tickets": {"subject": "New ticket"},
        "activities": {"type": "note", "subject": "New", "occurred_at": "2026-11-02T10:00:00Z"},
        "tasks": {"title": "New task"},
    }[object_name] | mine


@pytest.mark.parametrize("user", ALL_ROLES)
def test_create_update_delete_and_export_rights(
    org: Org, as_user: Callable[[str], TestClient], user: str
) -> None:
    client = as_user(user)
    for object_name in OBJECTS:
        rights = WRITES[user][object_name]
        created = client.post(f"/api/v1/{object_name}", json=_payload(org, object_name, user))
        if "c" in rights:
            assert created.status_code == 201, (user, object_name, created.text)
        else:
            assert created.status_code == 403, (user, object_name, created.text)
        visible = expected_visible(org, user, object_name)
        target = next(iter(sorted(visible)), None) or org.records[object_name]["rep_b"]
        field = {"accounts": "industry", "contacts": "job_title", "leads": "job_title",
                 "opportunities": "description", "tickets": "description",
                 "activities": "body", "tasks": "description"}[object_name]
        changed = client.patch(f"/api/v1/{object_name}/{target}", json={field: "edited"})
        if "u" in rights and target in visible:
            assert changed.status_code == 200, (user, object_name, changed.text)
        else:
            assert changed.status_code in (403, 404), (user, object_name, changed.text)
        exported = client.get(f"/api/v1/{object_name}/export")
        if "e" in rights:
            assert exported.status_code == 200, (user, object_name, exported.text)
            rows = exported.text.splitlines()[1:]
            exported_ids = {int(r.split(",")[0]) for r in rows}
            assert exported_ids & planted_ids(org, object_name) == visible, (user, object_name)
        else:
            assert exported.status_code == 403, (user, object_name)
        if created.status_code == 201:
            gone = client.delete(f"/api/v1/{object_name}/{created.json()['id']}")
            assert gone.status_code == (204 if "d" in rights else 403), (user, object_name)


@pytest.mark.parametrize("user", ["rep_a", "manager", "agent"])
def test_records_outside_the_scope_cannot_be_changed_or_deleted(
    org: Org, as_user: Callable[[str], TestClient], user: str
) -> None:
    client = as_user(user)
    for object_name in ("contacts", "accounts", "opportunities", "tickets"):
        outside = planted_ids(org, object_name) - expected_visible(org, user, object_name)
        for record_id in outside:
            changed = client.patch(f"/api/v1/{object_name}/{record_id}", json={"custom": {}})
            assert changed.status_code in (403, 404), (user, object_name, record_id)
            gone = client.delete(f"/api/v1/{object_name}/{record_id}")
            assert gone.status_code in (403, 404), (user, object_name, record_id)
            timeline = client.get(f"/api/v1/{object_name}/{record_id}/timeline")
            assert timeline.status_code in (403, 404), (user, object_name, record_id)


def test_a_bulk_call_cannot_reach_a_record_outside_the_scope(
    org: Org, as_user: Callable[[str], TestClient], container: Any
) -> None:
    rep = as_user("rep_a")
    mine, theirs = org.records["contacts"]["rep_a"], org.records["contacts"]["rep_d"]
    answer = rep.post("/api/v1/contacts/bulk", json={"records": [
        {"id": mine, "job_title": "Buyer"}, {"id": theirs, "job_title": "Hacked"}]})
    assert answer.status_code in (404, 422)
    assert "records[1].id" in answer.text
    admin = as_user("integration")
    assert admin.get(f"/api/v1/contacts/{theirs}").json().get("job_title") != "Hacked"
    assert admin.get(f"/api/v1/contacts/{mine}").json().get("job_title") != "Buyer"  # all or nothing


def test_a_rep_cannot_hand_a_record_to_someone_outside_their_scope(
    org: Org, as_user: Callable[[str], TestClient]
) -> None:
    rep = as_user("rep_a")
    answer = rep.post("/api/v1/contacts", json={"last_name": "Gift", "owner_id": org.users["rep_d"]})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "owner_id"
    moved = rep.patch(f"/api/v1/contacts/{org.records['contacts']['rep_a']}",
                      json={"owner_id": org.users["rep_d"]})
    assert moved.status_code == 422


def test_a_rep_owns_what_they_create(org: Org, as_user: Callable[[str], TestClient]) -> None:
    created = as_user("rep_a").post("/api/v1/contacts", json={"last_name": "Mine"}).json()
    assert created["owner_id"] == org.users["rep_a"]


def test_fields_a_role_may_not_write_are_refused(org: Org, as_user: Callable[[str], TestClient]) -> None:
    auditor_like = as_user("agent")  # agents may update contacts, but financial data is hidden
    answer = auditor_like.patch(f"/api/v1/accounts/{org.records['accounts']['rep_d']}",
                                json={"annual_revenue": "1.00"})
    assert answer.status_code == 403  # no update right on accounts at all
    contact = org.records["contacts"]["rep_d"]
    body = auditor_like.get(f"/api/v1/contacts/{contact}").json()
    assert "phone" in body
    assert body["phone"] != org.planted["rep_d"]["phone"]
    written = auditor_like.patch(f"/api/v1/contacts/{contact}", json={"phone": "13912345678"})
    assert written.status_code == 200  # masked on screen, still correctable
    marketer = as_user("marketer")
    refused = marketer.patch(f"/api/v1/leads/{org.records['leads']['rep_a']}",
                             json={"phone": "13912345678"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "forbidden_field"


def test_masked_fields_allow_exact_lookups_but_not_sorting_or_ranges(
    org: Org, as_user: Callable[[str], TestClient]
) -> None:
    rep = as_user("rep_a")
    phone = org.planted["rep_a"]["phone"]
    found = rep.get("/api/v1/contacts", params={"filter": f"phone:eq:{phone}"})
    assert ids_of(found) == {org.records["contacts"]["rep_a"]}
    assert rep.get("/api/v1/contacts", params={"sort": "phone"}).status_code == 422
    assert rep.get("/api/v1/contacts", params={"filter": "email:contains:person"}).status_code == 422
    auditor = as_user("auditor")
    assert auditor.get("/api/v1/contacts", params={"filter": f"phone:eq:{phone}"}).status_code == 422


def test_exports_mask_and_hide_like_reads(org: Org, as_user: Callable[[str], TestClient]) -> None:
    marketer = as_user("marketer")
    csv_text = marketer.get("/api/v1/contacts/export").text
    header = csv_text.splitlines()[0].split(",")
    assert "phone" not in header
    assert "mobile" not in header
    assert "email" in header
    for owner in OWNERS:
        assert org.planted[owner]["email"] not in csv_text
        assert org.planted[owner]["phone"] not in csv_text
        assert org.planted[owner]["national_id"] not in csv_text
    assert "p***@example.com" in csv_text


def test_board_totals_count_only_deals_in_scope(
    org: Org, as_user: Callable[[str], TestClient], client: TestClient
) -> None:
    pipeline = client.post("/api/v1/pipelines", json={"name": "P", "is_default": True}).json()
    stage = client.post("/api/v1/pipeline_stages", json={
        "pipeline_id": pipeline["id"], "name": "Open", "position": 1, "probability": 10}).json()
    integration = as_user("integration")
    for owner in OWNERS:
        integration.patch(f"/api/v1/opportunities/{org.records['opportunities'][owner]}",
                          json={"pipeline_id": pipeline["id"], "stage_id": stage["id"]})
    board = as_user("rep_a").get(f"/api/v1/pipelines/{pipeline['id']}/board").json()
    (column,) = board["stages"]
    assert column["count"] == 1
    assert [c["id"] for c in column["cards"]] == [
        org.records["opportunities"]["rep_a"]]
    assert as_user("manager").get(
        f"/api/v1/pipelines/{pipeline['id']}/board").json()["stages"][0]["count"] == 2


def test_timeline_changes_are_masked_like_the_record(
    org: Org, as_user: Callable[[str], TestClient]
) -> None:
    contact = org.records["contacts"]["rep_a"]
    rep = as_user("rep_a")
    assert rep.patch(f"/api/v1/contacts/{contact}", json={"phone": "13912345678"}).status_code == 200
    timeline = rep.get(f"/api/v1/contacts/{contact}/timeline").text
    assert org.planted["rep_a"]["phone"] not in timeline
    assert "+8613912345678" not in timeline
    assert "139****5678" in timeline
    assert "+8613912345678" in as_user("integration").get(
        f"/api/v1/contacts/{contact}/timeline").text
