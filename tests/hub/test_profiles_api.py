"""The profiles API: lookup by identifier, read, timeline, identity graph, undo, reviews, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from tests.hub.profile_support import T0, event, ingest, make_source, profile_id_of

EMAIL = "ana.lima@example.com"
PHONE = "+8613800138000"


@pytest.fixture
def web(container: Container) -> int:
    return make_source(container)


def _stitched_customer(container: Container, web: int, contact_id: int | None = None) -> int:
    """Anonymous page views, then an identify with e-mail and phone: one profile."""
    ingest(container,
           event(web, "page", name="Home", anonymous_id="a-1", fingerprint="fp-ana", at=T0),
           event(web, "page", name="Pricing", anonymous_id="a-1", fingerprint="fp-ana",
                 at=T0 + timedelta(minutes=1)))
    ingest(container, event(web, "identify", user_id="u-ana", anonymous_id="a-1", fingerprint="fp-ana",
                            at=T0 + timedelta(minutes=2),
                            traits={"email": EMAIL, "phone": PHONE, "name": "Ana Lima"}))
    pid = profile_id_of(container, "user_id", "u-ana")
    assert pid is not None
    return pid


def test_a_profile_is_found_by_each_kind_of_identifier(container: Container, client: TestClient,
                                                       web: int) -> None:
    contact = client.post("/api/v1/contacts", json={"last_name": "Lima", "email": EMAIL}).json()
    pid = _stitched_customer(container, web)
    for identifier in ("user_id:u-ana", "anonymous_id:a-1", f"email:{EMAIL.upper()}",
                       "phone:138 0013 8000", "fingerprint:fp-ana", f"contact_id:{contact['id']}"):
        answer = client.get("/api/v1/profiles", params={"identifier": identifier})
        assert answer.status_code == 200, (identifier, answer.text)
        assert answer.json()["id"] == pid
    body = client.get(f"/api/v1/profiles/{pid}").json()
    assert body["contact_id"] == contact["id"]
    assert body["traits"]["email"]["value"] == EMAIL  # the admin token holds the clear view
    assert body["counters"]["page_views"] == 2
    assert body["journey_stage"] == "identified"


@pytest.mark.parametrize(("identifier", "status"), [
    ("email:nobody@example.com", 404), ("email:not-an-email", 422), ("shoe_size:42", 422),
    ("user_id:null", 422), ("nothing", 422)])
def test_a_lookup_says_what_is_wrong(client: TestClient, identifier: str, status: int) -> None:
    answer = client.get("/api/v1/profiles", params={"identifier": identifier})
    assert answer.status_code == status, answer.text


def test_a_merged_profile_id_answers_with_its_survivor(container: Container, client: TestClient,
                                                       web: int) -> None:
    ingest(container, event(web, "page", anonymous_id="a-1"))
    ingest(container, event(web, "page", user_id="u-1"))
    older, newer = profile_id_of(container, "anonymous_id", "a-1"), profile_id_of(container, "user_id", "u-1")
    ingest(container, event(web, "track", name="Linked", anonymous_id="a-1", user_id="u-1"))

    body = client.get(f"/api/v1/profiles/{newer}").json()
    assert (body["id"], body["requested_id"], body["merged"]) == (older, newer, True)
    assert body["merged_from"] == [newer]
    assert client.get("/api/v1/profiles/999999").status_code == 404
    assert client.get(f"/api/v1/profiles/{2**63}").status_code == 422


def test_the_timeline_merges_events_of_merged_profiles_and_crm_activities(
    container: Container, client: TestClient, web: int
) -> None:
    contact = client.post("/api/v1/contacts", json={"last_name": "Lima", "email": EMAIL}).json()
    client.post("/api/v1/activities", json={
        "type": "call", "subject": "Intro call", "contact_id": contact["id"],
        "occurred_at": (T0 + timedelta(minutes=90)).isoformat()})
    ingest(container, event(web, "page", name="Old visit", anonymous_id="a-1", at=T0))
    ingest(container, event(web, "identify", user_id="u-1", at=T0 + timedelta(minutes=60),
                            traits={"email": EMAIL}))
    ingest(container, event(web, "track", name="Linked", user_id="u-1", anonymous_id="a-1",
                            at=T0 + timedelta(minutes=120)))
    pid = profile_id_of(container, "user_id", "u-1")

    first = client.get(f"/api/v1/profiles/{pid}/timeline", params={"limit": 2}).json()
    second = client.get(f"/api/v1/profiles/{pid}/timeline",
                        params={"limit": 2, "cursor": first["next_cursor"]}).json()

    items = first["items"] + second["items"]
    assert [(i["kind"], i.get("name") or i.get("subject") or i["type"]) for i in items] == [
        ("event", "Linked"), ("activity", "Intro call"), ("event", "identify"),
        ("event", "Old visit")]
    assert second["next_cursor"] is None
    assert len({i["profile_id"] for i in items if i["kind"] == "event"}) == 2  # not rewritten
    bad = client.get(f"/api/v1/profiles/{pid}/timeline", params={"cursor": "garbage"})
    assert bad.status_code == 422


def test_the_identity_graph_shows_identifiers_merges_and_reviews(
    container: Container, client: TestClient, web: int
) -> None:
    pid = _stitched_customer(container, web)
    ingest(container, event(web, "page", anonymous_id="a-2"))
    ingest(container, event(web, "page", anonymous_id="a-2", user_id="u-ana"))
    ingest(container, event(web, "identify", user_id="u-other", traits={"email": EMAIL}))

    graph = client.get(f"/api/v1/profiles/{pid}/identities").json()

    kinds = {(i["kind"], i["value"]) for i in graph["identities"]}
    assert {("user_id", "u-ana"), ("anonymous_id", "a-1"), ("anonymous_id", "a-2"),
            ("email", EMAIL), ("phone", PHONE), ("fingerprint", "fp-ana")} <= kinds
    [merge] = graph["merges"]
    assert (merge["identifier_kind"], merge["identifier_value"]) == ("anonymous_id", "a-2")
    assert merge["event_id"]
    assert merge["at"]
    assert merge["undone_at"] is None
    [review] = graph["reviews"]
    assert review["identifier_kind"] == "email"


def test_undo_through_the_api_needs_profiles_merge(
    container: Container, client: TestClient, rep_client: TestClient, web: int
) -> None:
    ingest(container, event(web, "page", anonymous_id="a-1"))
    ingest(container, event(web, "page", user_id="u-1"))
    ingest(container, event(web, "page", anonymous_id="a-1", user_id="u-1"))
    pid = profile_id_of(container, "user_id", "u-1")
    [merge] = client.get(f"/api/v1/profiles/{pid}/identities").json()["merges"]

    refused = rep_client.post(f"/api/v1/profiles/{pid}/merges/{merge['id']}/undo")
    done = client.post(f"/api/v1/profiles/{pid}/merges/{merge['id']}/undo")
    again = client.post(f"/api/v1/profiles/{pid}/merges/{merge['id']}/undo")

    assert refused.status_code == 403
    assert done.status_code == 200, done.text
    assert again.status_code == 409
    assert profile_id_of(container, "user_id", "u-1") != profile_id_of(container, "anonymous_id", "a-1")
    audit = client.get("/api/v1/audit", params={"action": "unmerge"}).json()
    assert audit["items"][0]["target"] == f"profiles:{merge['winner_id']}"


def test_reviews_are_listed_merged_and_dismissed_by_profiles_merge_holders(
    container: Container, client: TestClient, rep_client: TestClient, web: int
) -> None:
    for user in ("u-1", "u-2", "u-3"):
        ingest(container, event(web, "identify", user_id=user, traits={"email": EMAIL}))
    listed = client.get("/api/v1/merge-reviews").json()
    assert listed["count"] == 2
    first, second = listed["items"]
    assert rep_client.get("/api/v1/merge-reviews").status_code == 403
    assert rep_client.post(f"/api/v1/merge-reviews/{first['id']}/merge").status_code == 403

    merged = client.post(f"/api/v1/merge-reviews/{first['id']}/merge")
    dismissed = client.post(f"/api/v1/merge-reviews/{second['id']}/dismiss")

    assert (merged.json()["status"], dismissed.json()["status"]) == ("merged", "dismissed")
    assert client.get("/api/v1/merge-reviews").json()["count"] == 0
    assert client.post(f"/api/v1/merge-reviews/{first['id']}/dismiss").status_code == 409
    assert client.get("/api/v1/merge-reviews", params={"status": "weird"}).status_code == 422


def test_a_rep_who_cannot_see_the_contact_gets_404_everywhere(
    container: Container, client: TestClient, rep_client: TestClient, web: int
) -> None:
    client.post("/api/v1/contacts", json={"last_name": "Lima", "email": EMAIL})  # the admin's
    pid = _stitched_customer(container, web)
    for path in (f"/api/v1/profiles/{pid}", f"/api/v1/profiles/{pid}/timeline",
                 f"/api/v1/profiles/{pid}/identities"):
        assert rep_client.get(path).status_code == 404, path
    assert rep_client.get("/api/v1/profiles", params={"identifier": "user_id:u-ana"}).status_code == 404
    anonymous = profile_id_of(container, "anonymous_id", "a-1")
    assert rep_client.get(f"/api/v1/profiles/{anonymous}").status_code == 404


def test_a_rep_sees_their_contacts_profile_with_email_and_phone_masked(
    container: Container, rep_client: TestClient, web: int
) -> None:
    contact = rep_client.post("/api/v1/contacts", json={"last_name": "Lima", "email": EMAIL}).json()
    pid = _stitched_customer(container, web)

    body = rep_client.get(f"/api/v1/profiles/{pid}")
    graph = rep_client.get(f"/api/v1/profiles/{pid}/identities")
    timeline = rep_client.get(f"/api/v1/profiles/{pid}/timeline")

    assert body.status_code == 200
    assert body.json()["contact_id"] == contact["id"]
    for answer in (body, graph, timeline):
        assert EMAIL not in answer.text
        assert PHONE not in answer.text
        assert "13800138000" not in answer.text
    assert body.json()["traits"]["email"]["value"] == "a***@example.com"
    values = {i["kind"]: i["value"] for i in graph.json()["identities"]}
    assert values["email"] == "a***@example.com"
    assert values["user_id"] == "u-ana"


def test_profiles_without_a_linked_record_are_for_global_readers_only(
    container: Container, client: TestClient, rep_client: TestClient, web: int
) -> None:
    ingest(container, event(web, "page", anonymous_id="lonely",
                            at=datetime(2025, 1, 1, tzinfo=UTC)))
    pid = profile_id_of(container, "anonymous_id", "lonely")
    assert client.get(f"/api/v1/profiles/{pid}").status_code == 200
    assert rep_client.get(f"/api/v1/profiles/{pid}").status_code == 404


def test_an_erasure_removes_the_persons_profiles_and_identities_and_they_stay_gone(
    container: Container, client: TestClient, web: int
) -> None:
    from sqlalchemy import func, select

    from rapport.identity.models import Identity, MergeReview, ProfileMerge
    from rapport.profiles.models import Profile

    client.post("/api/v1/contacts", json={"last_name": "Lima", "email": EMAIL, "phone": PHONE})
    _stitched_customer(container, web)  # profile, identities
    ingest(container, event(web, "page", anonymous_id="a-2"))
    ingest(container, event(web, "page", anonymous_id="a-2", user_id="u-ana"))  # a merge
    ingest(container, event(web, "identify", user_id="u-other", traits={"email": EMAIL}))  # a review
    ingest(container, event(web, "page", anonymous_id="someone-else"))

    request = client.post("/api/v1/privacy/requests",
                          json={"kind": "erasure", "law": "gdpr", "email": EMAIL}).json()
    answer = client.post(f"/api/v1/privacy/requests/{request['id']}/run").json()

    stores = answer["report"]["stores"]
    assert answer["report"]["residue_check"] == "clean"
    for name in ("identities", "profiles", "profile_merges", "merge_reviews"):
        assert stores[name]["erased"] >= 1, name
    with container.session_factory() as session:
        left = {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Profile, Identity, ProfileMerge, MergeReview)}
    # someone else's profile stays, and so does u-other's: a different user id that only
    # claimed the e-mail (its review is gone, its identify event went with the events store)
    assert left == {"profiles": 2, "identities": 4, "profile_merges": 0, "merge_reviews": 0}
    assert profile_id_of(container, "user_id", "u-other") is not None
    assert profile_id_of(container, "user_id", "u-ana") is None

    # a late event naming the erased e-mail does not bring the person back
    outcome = ingest(container, event(web, "identify", user_id="u-late", traits={"email": EMAIL}))
    assert outcome.kept_out == 1
    assert profile_id_of(container, "user_id", "u-late") is None
