"""Dead letters: listed newest first with filters, inspected with their payload, fixed,
replayed into the event log, discarded; reachable by an erasure."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.crm.service import SYSTEM
from rapport.trust import erasure
from tests.hub.collector_support import (  # noqa: F401 - fixtures
    Keyed,
    basic,
    collector_fixture,
    dead_letters,
    events,
    web_source_fixture,
)


def _refuse(collector: TestClient, key: str, body: dict[str, object]) -> int:
    answer = collector.post("/v1/track", json=body, headers=basic(key))
    assert answer.status_code == 400
    return int(answer.json()["dead_letter_id"])


def test_dead_letters_are_listed_newest_first_with_filters(
    client: TestClient, collector: TestClient, web_source: Keyed
) -> None:
    first = _refuse(collector, web_source.key, {"event": "No identity"})
    second = _refuse(collector, web_source.key, {"userId": "u", "event": "E", "timestamp": "soon"})
    third = _refuse(collector, web_source.key, {"event": "Also no identity"})

    everything = client.get("/api/v1/dead-letters").json()
    by_code = client.get("/api/v1/dead-letters?code=missing_identity").json()
    by_source = client.get("/api/v1/dead-letters?source=Website&limit=1").json()
    page_two = client.get(f"/api/v1/dead-letters?source=Website&limit=1&cursor={by_source['next_cursor']}").json()

    assert [d["id"] for d in everything["items"]] == [third, second, first]
    assert everything["counts"] == {"open": 3}
    assert [d["id"] for d in by_code["items"]] == [third, first]
    assert [d["id"] for d in by_source["items"]] == [third]
    assert [d["id"] for d in page_two["items"]] == [second]
    assert "payload" not in everything["items"][0]
    assert everything["items"][0]["source"] == "Website"


def test_a_dead_letter_shows_its_payload_and_reason(
    client: TestClient, collector: TestClient, web_source: Keyed
) -> None:
    letter_id = _refuse(collector, web_source.key, {"event": "Orphan", "messageId": "m-9"})

    letter = client.get(f"/api/v1/dead-letters/{letter_id}").json()

    assert orjson.loads(letter["payload"]) == {"event": "Orphan", "messageId": "m-9", "type": "track"}
    assert letter["code"] == "missing_identity"
    assert letter["message_id"] == "m-9"
    assert letter["status"] == "open"
    assert letter["attempts"] == 0


def test_a_fixed_dead_letter_replays_into_the_event_log(
    client: TestClient, collector: TestClient, web_source: Keyed, container: Container
) -> None:
    letter_id = _refuse(collector, web_source.key, {"event": "Orphan", "messageId": "m-9"})

    fixed = client.patch(f"/api/v1/dead-letters/{letter_id}", json={"payload": {
        "type": "track", "event": "Orphan", "messageId": "m-9", "userId": "u-9"}})
    replayed = client.post(f"/api/v1/dead-letters/{letter_id}/replay").json()

    assert fixed.status_code == 200
    [event] = events(container)
    assert replayed == {"dead_letter_id": letter_id, "status": "replayed", "event_id": event.id,
                        "code": None, "reason": None}
    assert event.user_id == "u-9"
    assert event.message_id == "m-9"
    [letter] = dead_letters(container)
    assert letter.status == "replayed"
    assert letter.replayed_event_id == event.id
    assert letter.attempts == 1
    assert event.received_at == letter.received_at  # replayed as it first arrived
    again = client.post(f"/api/v1/dead-letters/{letter_id}/replay")
    assert again.status_code == 409


def test_a_replay_that_fails_again_stays_open_with_the_new_reason(
    client: TestClient, collector: TestClient, web_source: Keyed
) -> None:
    letter_id = _refuse(collector, web_source.key, {"event": "Orphan"})
    client.patch(f"/api/v1/dead-letters/{letter_id}", json={
        "payload": '{"type": "track", "event": "Orphan", "userId": "u", "timestamp": "never"}'})

    outcome = client.post(f"/api/v1/dead-letters/{letter_id}/replay").json()

    assert outcome["status"] == "open"
    assert outcome["code"] == "bad_timestamp"
    letter = client.get(f"/api/v1/dead-letters/{letter_id}").json()
    assert letter["code"] == "bad_timestamp"
    assert letter["attempts"] == 1


def test_a_malformed_body_can_be_fixed_and_replayed(
    client: TestClient, collector: TestClient, web_source: Keyed, container: Container
) -> None:
    answer = collector.post("/v1/batch", content=b'{"batch": [', headers=basic(web_source.key))
    letter_id = answer.json()["dead_letter_id"]

    client.patch(f"/api/v1/dead-letters/{letter_id}", json={
        "payload": {"type": "identify", "userId": "u-1", "traits": {"plan": "pro"}}})
    outcome = client.post(f"/api/v1/dead-letters/{letter_id}/replay").json()

    assert outcome["status"] == "replayed"
    assert [e.type for e in events(container)] == ["identify"]


def test_replaying_all_matching_open_dead_letters(
    client: TestClient, collector: TestClient, web_source: Keyed, container: Container
) -> None:
    good = collector.post("/v1/batch", json={"batch": [
        {"type": "track", "event": "A", "userId": "u", "messageId": "a"},
        {"type": "track", "event": "B", "userId": "u", "messageId": "b",
         "properties": {"blob": "x" * container.settings.event_max_bytes}},
    ]}, headers=basic(web_source.key)).json()
    orphan = _refuse(collector, web_source.key, {"event": "Orphan"})
    assert good["dead_lettered"] == 1

    outcome = client.post("/api/v1/dead-letters/replay?code=missing_identity").json()

    assert outcome["replayed"] == 0
    assert outcome["still_open"] == 1
    assert [i["dead_letter_id"] for i in outcome["items"]] == [orphan]
    assert client.get(f"/api/v1/dead-letters/{orphan}").json()["attempts"] == 1


def test_a_discarded_dead_letter_is_no_longer_replayed(
    client: TestClient, collector: TestClient, web_source: Keyed
) -> None:
    letter_id = _refuse(collector, web_source.key, {"event": "Orphan"})

    discarded = client.post(f"/api/v1/dead-letters/{letter_id}/discard").json()
    outcome = client.post("/api/v1/dead-letters/replay").json()

    assert discarded["status"] == "discarded"
    assert outcome["items"] == []
    assert client.patch(f"/api/v1/dead-letters/{letter_id}", json={"payload": "{}"}).status_code == 409


def test_only_source_managers_see_dead_letters(
    rep_client: TestClient, collector: TestClient, web_source: Keyed
) -> None:
    letter_id = _refuse(collector, web_source.key, {"event": "Orphan", "email": "ana@example.com"})

    assert rep_client.get("/api/v1/dead-letters").status_code == 403
    read = rep_client.get(f"/api/v1/dead-letters/{letter_id}")
    assert read.status_code == 403
    assert "ana@example.com" not in read.text
    assert rep_client.post(f"/api/v1/dead-letters/{letter_id}/replay").status_code == 403


def test_an_erasure_reaches_the_persons_events_and_dead_letters(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    with container.uow() as uow:
        contact = container.records.create(uow, SYSTEM, "contacts", {
            "first_name": "Ana", "last_name": "Lima", "email": "ana.lima@example.com"})
        uow.commit()
    key = basic(web_source.key)
    collector.post("/v1/identify", json={"userId": "app-77", "traits": {"email": "Ana.Lima@example.com"}}, headers=key)
    collector.post("/v1/track", json={"userId": "app-77", "event": "Order Completed"}, headers=key)
    collector.post("/v1/track", json={"userId": "someone-else", "event": "Order Completed"}, headers=key)
    _refuse(collector, web_source.key, {"event": "x", "traits": {"email": "ana.lima@example.com"}})

    with container.uow() as uow:
        subject = erasure.resolve_subject(uow.session, container.settings.secret_key,
                                          f"contacts:{contact.id}", lock=True)
        found = erasure.find_all(uow.session, subject)
        result = erasure.erase_subject(uow.session, container.settings.secret_key, subject,
                                       request_id=None)
        uow.commit()

    assert found["events"] == 2
    assert found["dead_letters"] == 1
    assert result.erased["events"] == 2
    assert result.clean
    assert [e.user_id for e in events(container)] == ["someone-else"]
    assert dead_letters(container) == []


def test_after_an_erasure_a_late_event_does_not_bring_the_person_back(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    with container.uow() as uow:
        contact = container.records.create(uow, SYSTEM, "contacts", {
            "first_name": "Ana", "last_name": "Lima", "email": "ana.lima@example.com"})
        uow.commit()
    with container.uow() as uow:
        subject = erasure.resolve_subject(uow.session, container.settings.secret_key,
                                          f"contacts:{contact.id}", lock=True)
        erasure.erase_subject(uow.session, container.settings.secret_key, subject, request_id=None)
        uow.commit()

    late = collector.post("/v1/identify", json={
        "userId": "app-77", "messageId": "late-1", "traits": {"email": "ANA.LIMA@example.com"}},
        headers=basic(web_source.key))

    assert late.status_code == 400
    assert late.json()["code"] == "suppressed"
    assert events(container) == []
    [letter] = dead_letters(container)
    assert letter.payload == ""
    assert letter.status == "discarded"
    assert "ana" not in letter.reason.lower()


def test_an_erasure_finds_events_through_the_persons_profile_identifiers(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    from rapport.identity.models import Identity
    from rapport.profiles.models import Profile

    with container.uow() as uow:
        contact = container.records.create(uow, SYSTEM, "contacts", {
            "first_name": "Bo", "last_name": "Chen", "email": "bo.chen@example.com"})
        profile = Profile(contact_id=contact.id)
        uow.session.add(profile)
        uow.session.flush()
        uow.session.add_all([Identity(kind="user_id", value="app-99", profile_id=profile.id),
                             Identity(kind="anonymous_id", value="anon-5", profile_id=profile.id)])
        uow.commit()
    key = basic(web_source.key)
    collector.post("/v1/track", json={"userId": "app-99", "event": "Viewed"}, headers=key)
    collector.post("/v1/page", json={"anonymousId": "anon-5", "name": "Home"}, headers=key)
    collector.post("/v1/page", json={"anonymousId": "anon-6", "name": "Home"}, headers=key)
    _refuse(collector, web_source.key, {"userId": "app-99", "event": "x", "timestamp": "soon"})

    with container.uow() as uow:
        subject = erasure.resolve_subject(uow.session, container.settings.secret_key,
                                          f"contacts:{contact.id}", lock=True)
        result = erasure.erase_subject(uow.session, container.settings.secret_key, subject,
                                       request_id=None)
        uow.commit()

    assert result.erased["events"] == 2
    assert result.erased["dead_letters"] == 1
    assert [e.anonymous_id for e in events(container)] == ["anon-6"]
