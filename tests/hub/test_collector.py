"""The Segment-compatible collector: every message ends as one stored event, a duplicate, or
one dead letter with its original payload and reason."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events import collector as core
from rapport.events.hub_bus import InProcessEventBus
from rapport.events.hub_models import DeadLetter, HubEvent
from rapport.events.partitioning import partition_key, partition_of
from tests.hub.collector_support import (  # noqa: F401 - fixtures
    Keyed,
    basic,
    collector_fixture,
    count,
    dead_letters,
    events,
    web_source_fixture,
)

# Examples from Segment's HTTP Tracking API documentation (no messageId: the server makes one).
SEGMENT_DOCS: dict[str, dict[str, Any]] = {
    "track": {"userId": "019mr8mf4r", "event": "Item Purchased",
              "properties": {"name": "Leap to Conclusions Mat", "revenue": 14.99},
              "context": {"ip": "24.5.68.47"}, "timestamp": "2012-12-02T00:30:12.984Z"},
    "identify": {"userId": "019mr8mf4r",
                 "traits": {"email": "pgibbons@example.com", "name": "Peter Gibbons",
                            "industry": "Technology"},
                 "context": {"ip": "24.5.68.47"}, "timestamp": "2012-12-02T00:30:08.276Z"},
    "page": {"userId": "019mr8mf4r", "name": "Tracking HTTP API",
             "timestamp": "2012-12-02T00:31:29.738Z"},
    "screen": {"userId": "019mr8mf4r", "name": "Tracking HTTP API",
               "timestamp": "2012-12-02T00:31:29.738Z"},
    "group": {"userId": "019mr8mf4r", "groupId": "8e9df332ac",
              "traits": {"name": "Initech", "industry": "Technology", "employees": 329,
                         "plan": "enterprise", "total billed": 830}},
    "alias": {"previousId": "39239-239239-239239-23923", "userId": "019mr8mf4r"},
}
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _ingest(container: Container, source: Keyed, items: list[Any], **kwargs: Any) -> core.IngestResult:
    with container.uow() as uow:
        result = core.ingest(uow.session, container.settings, source.source, items, **kwargs)
        uow.commit()
    return result


def _track(message_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Viewed", "userId": "u-1", "messageId": message_id, **extra}


# ---- the Segment calls ------------------------------------------------------------------


@pytest.mark.parametrize("call", sorted(SEGMENT_DOCS))
def test_each_segment_call_from_the_docs_is_stored(
    container: Container, collector: TestClient, web_source: Keyed, call: str
) -> None:
    answer = collector.post(f"/v1/{call}", json=SEGMENT_DOCS[call], headers=basic(web_source.key))

    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    [event] = events(container)
    assert event.type == call
    assert event.user_id == "019mr8mf4r"
    assert event.message_id.startswith("rapport-")  # derived from the payload
    assert event.channel == "web"
    assert event.context["channel"] == "web"
    assert event.fingerprint
    assert event.context["device"]["fingerprint"] == event.fingerprint
    assert event.session_id
    assert event.context["session"]["id"] == event.session_id
    assert event.partition == partition_of(partition_key("019mr8mf4r", None),
                                           container.settings.hub_partitions)
    if call == "track":
        assert event.name == "Item Purchased"
        assert event.properties == {"name": "Leap to Conclusions Mat", "revenue": 14.99}
        assert event.timestamp == datetime(2012, 12, 2, 0, 30, 12, 984000, tzinfo=UTC)
    if call == "identify":
        assert event.traits["email"] == "pgibbons@example.com"
    if call == "group":
        assert event.properties["groupId"] == "8e9df332ac"
        assert event.traits["name"] == "Initech"
    if call == "alias":
        assert event.properties["previousId"] == "39239-239239-239239-23923"


def test_a_batch_merges_its_context_and_stores_every_event(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    body = {"batch": [{**SEGMENT_DOCS["identify"], "type": "identify", "messageId": "b-1"},
                      {**SEGMENT_DOCS["track"], "type": "track", "messageId": "b-2"}],
            "context": {"device": {"type": "phone", "name": "Apple iPhone 6"}}}

    answer = collector.post("/v1/batch", json=body, headers=basic(web_source.key))

    assert answer.json() == {"success": True, "accepted": 2, "duplicates": 0, "dead_lettered": 0}
    stored = events(container)
    assert [e.message_id for e in stored] == ["b-1", "b-2"]
    assert all(e.context["device"]["name"] == "Apple iPhone 6" for e in stored)
    assert stored[1].context["ip"] == "24.5.68.47"  # the event's own context kept


def test_the_published_refs_are_what_was_stored(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    bus = container.event_bus
    assert isinstance(bus, InProcessEventBus)
    before = bus.published

    collector.post("/v1/batch", json={"batch": [_track("p-1"), _track("p-2"), _track("p-1")]},
                   headers=basic(web_source.key))

    assert bus.published - before == 2


def test_a_visitors_events_before_and_after_identify_share_a_partition(
    container: Container, web_source: Keyed
) -> None:
    """The partition follows the device's anonymousId, which Segment clients keep sending
    after identify; so one processor sees the whole journey and none races another."""
    anonymous = {"anonymousId": "a-7f3e", "userId": None}
    _ingest(container, web_source, [
        {"type": "page", "name": "Pricing", "anonymousId": "a-7f3e", "messageId": "v-1"},
        {"type": "identify", "anonymousId": "a-7f3e", "userId": "cust-9", "messageId": "v-2",
         "traits": {"email": "ana@example.com"}},
        {"type": "track", "event": "Viewed", "anonymousId": "a-7f3e", "userId": "cust-9",
         "messageId": "v-3"},
        {"type": "track", "event": "Viewed", "anonymousId": "null", "userId": "cust-9",
         "messageId": "v-4"},
    ])
    with container.session_factory() as session:
        partitions = dict(session.execute(
            select(HubEvent.message_id, HubEvent.partition).where(
                HubEvent.message_id.in_(["v-1", "v-2", "v-3", "v-4"]))).all())
    count = container.settings.hub_partitions
    visitor = partition_of(partition_key(None, anonymous["anonymousId"]), count)
    assert partitions["v-1"] == partitions["v-2"] == partitions["v-3"] == visitor
    # a junk anonymous id ("null") is no device: the user id picks the partition
    assert partitions["v-4"] == partition_of(partition_key("cust-9", None), count)


# ---- authentication ----------------------------------------------------------------------


def test_the_write_key_may_come_in_the_body_as_analytics_js_sends_it(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    body = orjson.dumps({**SEGMENT_DOCS["track"], "writeKey": web_source.key})

    answer = collector.post("/v1/track", content=body, headers={"Content-Type": "text/plain"})

    assert answer.status_code == 200
    assert len(events(container)) == 1


def test_without_a_write_key_the_answer_is_401_and_nothing_is_kept(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    missing = collector.post("/v1/track", json=SEGMENT_DOCS["track"])
    wrong = collector.post("/v1/track", json=SEGMENT_DOCS["track"], headers=basic("rwk_nope"))
    bearer = collector.post("/v1/track", json=SEGMENT_DOCS["track"],
                            headers={"Authorization": f"Bearer {web_source.key}"})

    assert [missing.status_code, wrong.status_code, bearer.status_code] == [401, 401, 401]
    assert "write key" in missing.json()["detail"]
    assert count(container, HubEvent) == 0
    assert count(container, DeadLetter) == 0


def test_browsers_on_any_origin_may_post(collector: TestClient, web_source: Keyed) -> None:
    preflight = collector.options("/v1/batch", headers={
        "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    answer = collector.post("/v1/page", json=SEGMENT_DOCS["page"], headers={
        **basic(web_source.key), "Origin": "https://shop.example.com"})

    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    assert answer.headers["access-control-allow-origin"] == "*"


# ---- idempotency -------------------------------------------------------------------------


def test_a_duplicate_message_id_is_a_no_op(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    first = collector.post("/v1/track", json=_track("dup-1"), headers=basic(web_source.key))
    again = collector.post("/v1/track", json=_track("dup-1", event="Changed"),
                           headers=basic(web_source.key))

    assert first.json()["accepted"] == 1
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    [event] = events(container)
    assert event.name == "Viewed"


def test_a_retried_payload_without_message_id_still_dedups(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    for _ in range(2):
        collector.post("/v1/track", json=SEGMENT_DOCS["track"], headers=basic(web_source.key))

    assert len(events(container)) == 1


def test_concurrent_requests_with_the_same_message_ids_store_each_once(
    container: Container, web_source: Keyed
) -> None:
    items = [_track(f"race-{n}", userId=f"u-{n % 7}") for n in range(60)]
    results: list[core.IngestResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def send() -> None:
        try:
            start.wait()
            results.append(_ingest(container, web_source, items))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sum(r.accepted for r in results) == 60
    assert all(r.accepted + r.duplicates == 60 for r in results)
    assert len(events(container)) == 60


# ---- refusals ----------------------------------------------------------------------------


def test_an_event_without_identity_is_a_dead_letter_with_its_original_payload(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    body = b'{"type": "track", "event": "Orphan",  "messageId": "m-orphan"}'

    answer = collector.post("/v1/track", content=body, headers=basic(web_source.key))

    assert answer.status_code == 400
    assert answer.json()["code"] == "missing_identity"
    [letter] = dead_letters(container)
    assert answer.json()["dead_letter_id"] == letter.id
    assert letter.payload == body.decode()  # byte for byte
    assert letter.code == "missing_identity"
    assert "userId or an anonymousId" in letter.reason
    assert letter.status == "open"
    assert letter.source_id == web_source.source.id
    assert events(container) == []


@pytest.mark.parametrize("timestamp", ["yesterday", "2024-13-45T99:00:00Z", "", 1700000000])
def test_an_unparseable_timestamp_is_a_dead_letter(
    container: Container, collector: TestClient, web_source: Keyed, timestamp: Any
) -> None:
    answer = collector.post("/v1/track", json=_track("t-1", timestamp=timestamp),
                            headers=basic(web_source.key))

    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_timestamp"
    assert [d.code for d in dead_letters(container)] == ["bad_timestamp"]


def test_without_a_timestamp_the_event_happened_when_received(
    container: Container, web_source: Keyed
) -> None:
    _ingest(container, web_source, [_track("no-time")], received_at=NOW)

    [event] = events(container)
    assert event.timestamp == NOW == event.received_at
    assert event.skew_ms is None


def test_clock_skew_is_corrected_from_sent_at(container: Container, web_source: Keyed) -> None:
    # the device clock runs 2 h 30 s ahead: it says sent at 14:00:30 when it is 12:00:00
    _ingest(container, web_source, [_track("skew", timestamp="2026-03-01T14:00:10.250+00:00",
                                           sentAt="2026-03-01T22:00:30+08:00")],
            received_at=NOW)

    [event] = events(container)
    assert event.timestamp == datetime(2026, 3, 1, 11, 59, 40, 250000, tzinfo=UTC)
    assert event.sent_at == datetime(2026, 3, 1, 14, 0, 30, tzinfo=UTC)
    assert event.received_at == NOW
    assert event.skew_ms == (2 * 3600 + 30) * 1000


def test_a_clock_off_by_a_year_is_corrected_and_its_skew_kept_whole(
    container: Container, web_source: Keyed
) -> None:
    sent = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    _ingest(container, web_source, [_track("year", timestamp="2025-03-01T11:59:00Z",
                                           sentAt=sent.isoformat())], received_at=NOW)

    [event] = events(container)
    assert event.timestamp == NOW - timedelta(minutes=1)
    assert event.skew_ms == round((sent - NOW) / timedelta(milliseconds=1))  # beyond 32 bits
    assert event.skew_ms is not None
    assert event.skew_ms < -(2**31)


def test_a_batch_level_sent_at_corrects_every_event(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    sent = datetime.now(UTC) + timedelta(hours=1)
    happened = sent - timedelta(seconds=5)
    collector.post("/v1/batch", json={"sentAt": sent.isoformat(), "batch": [
        _track("s-1", timestamp=happened.isoformat())]}, headers=basic(web_source.key))

    [event] = events(container)
    assert abs(event.timestamp - (event.received_at - timedelta(seconds=5))) < timedelta(milliseconds=1)
    assert 3_590_000 < (event.skew_ms or 0) <= 3_600_000


def test_an_oversized_event_is_dead_lettered_while_its_batch_siblings_are_stored(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    limit = container.settings.event_max_bytes
    big = _track("big", properties={"blob": "x" * limit})

    answer = collector.post("/v1/batch", json={"batch": [_track("ok-1"), big, _track("ok-2")]},
                            headers=basic(web_source.key))

    assert answer.status_code == 200
    assert answer.json()["accepted"] == 2
    [refused] = answer.json()["refused"]
    assert refused["index"] == 1
    assert refused["code"] == "too_large"
    assert refused["messageId"] == "big"
    assert [e.message_id for e in events(container)] == ["ok-1", "ok-2"]
    [letter] = dead_letters(container)
    assert orjson.loads(letter.payload)["properties"]["blob"] == "x" * limit


def test_a_batch_over_the_limit_is_refused_whole_with_413(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    per_event = {"blob": "y" * 20_000}
    batch = {"batch": [_track(f"m-{n}", properties=per_event) for n in range(30)]}

    answer = collector.post("/v1/batch", json=batch, headers=basic(web_source.key))

    assert answer.status_code == 413
    assert "limited to" in answer.json()["detail"]
    assert count(container, HubEvent) == 0


def test_malformed_json_is_400_and_a_dead_letter_with_the_raw_body(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    body = b'{"batch": [{"type": "track", "userId": "u", "event": "x",}'

    answer = collector.post("/v1/batch", content=body, headers=basic(web_source.key))

    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_json"
    [letter] = dead_letters(container)
    assert letter.payload == body.decode()
    assert letter.code == "malformed_json"


def test_a_body_that_is_json_but_not_a_batch_is_kept_as_bad_batch(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    answer = collector.post("/v1/batch", json=[_track("x")], headers=basic(web_source.key))

    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_batch"
    assert [d.code for d in dead_letters(container)] == ["bad_batch"]


def test_gzip_bodies_are_accepted(container: Container, collector: TestClient,
                                  web_source: Keyed) -> None:
    body = gzip.compress(orjson.dumps({"batch": [_track("gz-1")]}))

    answer = collector.post("/v1/batch", content=body, headers={
        **basic(web_source.key), "Content-Encoding": "gzip", "Content-Type": "application/json"})

    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1


def test_a_nul_character_is_a_dead_letter_not_a_server_error(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    answer = collector.post("/v1/track", json=_track("nul", properties={"q": "a\x00b"}),
                            headers=basic(web_source.key))

    assert answer.status_code == 400
    assert answer.json()["code"] == "nul_character"
    [letter] = dead_letters(container)
    assert "\\u0000" in letter.payload


def test_the_write_key_is_not_kept_in_a_dead_letter(
    container: Container, collector: TestClient, web_source: Keyed
) -> None:
    collector.post("/v1/track", content=orjson.dumps({"event": "x", "writeKey": web_source.key}))
    collector.post("/v1/batch", content=b'{"writeKey": "' + web_source.key.encode() + b'", "batch": [',
                   headers=basic(web_source.key))

    letters = dead_letters(container)
    assert len(letters) == 2
    assert all(web_source.key not in d.payload for d in letters)


# ---- derived fingerprint and session -----------------------------------------------------


def test_a_missing_fingerprint_and_session_are_derived_and_marked(
    container: Container, web_source: Keyed
) -> None:
    own = _track("own", context={"device": {"fingerprint": "fp-1"}, "session": {"id": "s-1"}})
    _ingest(container, web_source, [own, _track("derived")], received_at=NOW,
            client_ip="203.0.113.9", user_agent="Mozilla/5.0")

    sent, derived = events(container)
    assert (sent.fingerprint, sent.fingerprint_derived) == ("fp-1", False)
    assert (sent.session_id, sent.session_derived) == ("s-1", False)
    assert derived.fingerprint_derived
    assert derived.session_derived
    assert derived.fingerprint.startswith("d_")
    assert "203.0.113.9" not in str(derived.context)


def test_the_same_browser_gets_the_same_derived_fingerprint(
    container: Container, web_source: Keyed
) -> None:
    for n, agent in enumerate(["Mozilla/5.0", "Mozilla/5.0", "curl/8"]):
        _ingest(container, web_source, [_track(f"fp-{n}")], client_ip="203.0.113.9",
                user_agent=agent)

    first, second, other = (e.fingerprint for e in events(container))
    assert first == second != other


def test_a_derived_session_continues_until_the_gap_then_starts_anew(
    container: Container, web_source: Keyed
) -> None:
    gap = container.settings.session_gap_minutes
    times = [NOW, NOW + timedelta(minutes=gap - 1), NOW + timedelta(minutes=2 * gap + 1)]
    for n, at in enumerate(times):
        _ingest(container, web_source, [_track(f"v-{n}", timestamp=at.isoformat())],
                received_at=at)
    _ingest(container, web_source, [_track("other-user", userId="u-2",
                                           timestamp=times[1].isoformat())])

    first, second, third, other = events(container)
    assert first.session_id == second.session_id != third.session_id
    assert other.session_id not in {first.session_id, third.session_id}
    assert all(e.session_derived for e in (first, second, third, other))


def test_a_batch_derives_sessions_in_time_order(container: Container, web_source: Keyed) -> None:
    later = _track("later", timestamp=(NOW + timedelta(hours=3)).isoformat())
    early = _track("early", timestamp=NOW.isoformat())
    early2 = _track("early2", timestamp=(NOW + timedelta(minutes=5)).isoformat())

    _ingest(container, web_source, [later, early, early2], received_at=NOW + timedelta(hours=3))

    by_id = {e.message_id: e for e in events(container)}
    assert by_id["early"].session_id == by_id["early2"].session_id != by_id["later"].session_id


def test_context_channel_defaults_to_the_source_and_may_be_given(
    container: Container, web_source: Keyed
) -> None:
    _ingest(container, web_source, [_track("c-1"), _track("c-2", context={"channel": "pos"}),
                                    _track("c-3", channel="mobile")])

    assert [e.channel for e in events(container)] == ["web", "pos", "app"]


# ---- none lost ---------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
FIELDS = st.sampled_from(["type", "userId", "anonymousId", "messageId", "event", "name",
                          "timestamp", "sentAt", "properties", "traits", "context", "groupId",
                          "previousId"])
PLAUSIBLE = st.dictionaries(FIELDS, JSON | st.sampled_from(
    ["track", "identify", "page", "u-1", "2024-05-01T09:30:00Z", "m-1", "m-2"]), max_size=8)
ITEMS = st.lists(JSON | PLAUSIBLE | st.binary(max_size=40), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=ITEMS)
def test_fuzzed_messages_all_end_stored_duplicate_or_dead_lettered(
    container: Container, web_source: Keyed, items: list[Any]
) -> None:
    stored_before, dead_before = count(container, HubEvent), count(container, DeadLetter)

    result = _ingest(container, web_source, items)

    assert [o.index for o in result.outcomes] == list(range(len(items)))
    assert result.accepted + result.duplicates + result.dead_lettered == len(items)
    assert count(container, HubEvent) - stored_before == result.accepted
    assert count(container, DeadLetter) - dead_before == result.dead_lettered


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode())
       | st.lists(PLAUSIBLE, max_size=5).map(lambda b: json.dumps({"batch": b}).encode()))
def test_fuzzed_request_bodies_never_get_a_server_error(
    container: Container, collector: TestClient, web_source: Keyed, body: bytes
) -> None:
    dead_before = count(container, DeadLetter)
    stored_before = count(container, HubEvent)

    answer = collector.post("/v1/batch", content=body, headers=basic(web_source.key))

    assert answer.status_code in (200, 400), answer.text
    kept = (count(container, DeadLetter) - dead_before) + (count(container, HubEvent) - stored_before)
    if answer.status_code == 400:
        assert kept == 1
    else:
        summary = answer.json()
        assert kept == summary["accepted"] + summary["dead_lettered"]
