"""Third-party webhooks: ``POST /v1/webhook`` maps generic JSON to events with the source's
declarative mapping; what the mapping cannot map is a dead letter with the reason, kept as the
vendor sent it, and a plain replay maps it again once the source's mapping is fixed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events import sources
from rapport.events.hub_models import DeadLetter, HubEvent
from rapport.events.webhook_mapping import (
    MappingError,
    Unmappable,
    apply,
    parse_path,
    remap_for_replay,
    validate,
)
from tests.hub.webhook_support import SHOPIFY_MAPPING, SHOPIFY_ORDER, STRIPE_EVENT, STRIPE_MAPPING


def _source(container: Container, name: str, mapping: dict[str, Any]) -> str:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, name, "api", mapping)
        uow.commit()
    return issued.write_key


def _events(container: Container) -> list[HubEvent]:
    with container.session_factory() as session:
        return list(session.scalars(select(HubEvent).order_by(HubEvent.id)))


def _dead(container: Container) -> list[DeadLetter]:
    with container.session_factory() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def test_a_stripe_like_event_becomes_a_track_event(client: TestClient,
                                                   container: Container) -> None:
    key = _source(container, "stripe", STRIPE_MAPPING)

    answer = client.post("/v1/webhook", json=STRIPE_EVENT, auth=(key, ""))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"success": True, "accepted": 1, "duplicates": 0, "dead_lettered": 0}
    [event] = _events(container)
    assert (event.type, event.name, event.message_id, event.channel) == (
        "track", "charge.succeeded", "evt_3PabcXYZ", "api")
    assert event.anonymous_id == "cus_Q1w2e3"
    assert event.properties == {"amount": 2000, "currency": "usd", "charge_id": "ch_3Pabc",
                                "provider": "stripe"}
    assert event.traits == {"email": "ana@example.com", "external_id": "cus_Q1w2e3"}
    assert event.timestamp.isoformat().startswith("2024-05-01T09:30:00")


def test_a_shopify_like_order_keeps_big_ids_as_strings_and_line_items(
        client: TestClient, container: Container) -> None:
    key = _source(container, "shopify", SHOPIFY_MAPPING)

    answer = client.post("/v1/webhook", content=orjson.dumps(SHOPIFY_ORDER), auth=(key, ""),
                         headers={"Content-Type": "application/json"})

    assert answer.status_code == 200, answer.text
    [event] = _events(container)
    assert event.message_id == "820982911946154508"
    assert event.anonymous_id == "115310627314723954"
    assert event.name == "Order Completed"
    assert event.properties["first_sku"] == "IPOD-2GB"
    assert event.properties["products"][0]["title"] == "iPod Nano"
    assert event.properties["shop"] == "demo.myshopify.com"
    assert event.traits == {"email": "jon@example.com", "phone": "+16135550111"}
    assert event.timestamp.isoformat().startswith("2024-05-01T13:30:00")


def test_a_vendor_retry_of_the_same_delivery_is_a_duplicate(client: TestClient,
                                                           container: Container) -> None:
    key = _source(container, "stripe", STRIPE_MAPPING)

    client.post("/v1/webhook", json=STRIPE_EVENT, auth=(key, ""))
    again = client.post(f"/v1/webhook?writeKey={key}", json=STRIPE_EVENT,
                        headers={"Authorization": ""})

    assert again.status_code == 200
    assert again.json()["duplicates"] == 1
    assert len(_events(container)) == 1


def test_a_payload_the_mapping_cannot_map_is_a_dead_letter_with_the_reason(
        client: TestClient, container: Container) -> None:
    key = _source(container, "stripe", STRIPE_MAPPING)
    drifted = orjson.loads(orjson.dumps(STRIPE_EVENT))
    drifted["data"]["object"].pop("amount")  # upstream schema drift: the field was renamed
    drifted["data"]["object"]["amount_cents"] = 2000

    answer = client.post("/v1/webhook", json=drifted, auth=(key, ""))

    assert answer.status_code == 400
    problem = answer.json()
    assert problem["code"] == "unmappable"
    assert "$.data.object.amount" in problem["detail"]
    [dead] = _dead(container)
    assert (dead.code, dead.id) == ("unmappable", problem["dead_letter_id"])
    assert orjson.loads(dead.payload) == drifted  # the original payload, for the replay
    assert dead.payload_format == "webhook"
    assert _events(container) == []


def _replay(client: TestClient, dead_letter_id: int) -> dict[str, Any]:
    answer = client.post(f"/api/v1/dead-letters/{dead_letter_id}/replay")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _remap(client: TestClient, container: Container, name: str, mapping: dict[str, Any]) -> None:
    with container.session_factory() as session:
        source = sources.find_source(session, name)
    answer = client.patch(f"/api/v1/sources/{source.id}", json={"mapping": mapping})
    assert answer.status_code == 200, answer.text


def test_an_unmappable_webhook_replays_once_the_source_mapping_is_fixed(
        client: TestClient, container: Container) -> None:
    wrong = {**SHOPIFY_MAPPING, "anonymousId": "$.customer.external_id"}  # a path the vendor lacks
    key = _source(container, "shopify", wrong)
    refused = client.post("/v1/webhook", content=orjson.dumps(SHOPIFY_ORDER), auth=(key, ""),
                          headers={"Content-Type": "application/json"})
    dead_id = refused.json()["dead_letter_id"]
    shown = client.get(f"/api/v1/dead-letters/{dead_id}").json()
    still_wrong = _replay(client, dead_id)

    _remap(client, container, "shopify", SHOPIFY_MAPPING)
    replayed = _replay(client, dead_id)

    assert refused.status_code == 400
    assert shown["payload_format"] == "webhook"
    assert orjson.loads(shown["payload"]) == SHOPIFY_ORDER  # no manual rewrite needed
    assert (still_wrong["status"], still_wrong["code"]) == ("open", "unmappable")
    assert "$.customer.external_id" in still_wrong["reason"]
    [event] = _events(container)
    assert replayed == {"dead_letter_id": dead_id, "status": "replayed", "event_id": event.id,
                        "code": None, "reason": None}
    assert (event.name, event.message_id, event.anonymous_id) == (
        "Order Completed", "820982911946154508", "115310627314723954")
    assert event.context["channel"] == "api"
    [dead] = _dead(container)
    assert (dead.status, dead.attempts, dead.replayed_event_id) == ("replayed", 2, event.id)
    assert dead.message_id == "820982911946154508"


def test_an_event_the_collector_refuses_keeps_the_vendor_body_for_the_replay(
        client: TestClient, container: Container) -> None:
    key = _source(container, "stripe", {**STRIPE_MAPPING, "timestamp": "$.data.object.currency"})
    refused = client.post("/v1/webhook", json=STRIPE_EVENT, auth=(key, ""))
    [dead] = _dead(container)

    _remap(client, container, "stripe", STRIPE_MAPPING)
    replayed = _replay(client, dead.id)

    assert refused.status_code == 400
    assert refused.json()["code"] == "bad_timestamp"
    assert (dead.code, dead.payload_format, dead.message_id) == (
        "bad_timestamp", "webhook", "evt_3PabcXYZ")
    assert orjson.loads(dead.payload) == STRIPE_EVENT
    assert replayed["status"] == "replayed"
    [event] = _events(container)
    assert event.message_id == "evt_3PabcXYZ"
    assert event.timestamp.isoformat().startswith("2024-05-01T09:30:00")


def test_a_webhook_dead_letter_can_still_be_fixed_by_hand(
        client: TestClient, container: Container) -> None:
    key = _source(container, "stripe", STRIPE_MAPPING)
    drifted = orjson.loads(orjson.dumps(STRIPE_EVENT))
    drifted["data"]["object"]["amount_cents"] = drifted["data"]["object"].pop("amount")
    vendor_fix = client.post("/v1/webhook", json=drifted, auth=(key, "")).json()["dead_letter_id"]
    by_event = client.post("/v1/webhook", json={**drifted, "id": "evt_2"},
                           auth=(key, "")).json()["dead_letter_id"]

    # the vendor's body corrected: still mapped by the source's mapping on replay
    patched = client.patch(f"/api/v1/dead-letters/{vendor_fix}", json={"payload": STRIPE_EVENT})
    # or rewritten as the event itself
    as_event = client.patch(f"/api/v1/dead-letters/{by_event}", json={
        "payload": {"type": "track", "event": "charge.succeeded", "messageId": "evt_2",
                    "anonymousId": "cus_Q1w2e3", "properties": {"amount": 2000}},
        "payload_format": "event"})
    outcomes = [_replay(client, vendor_fix), _replay(client, by_event)]

    assert patched.json()["payload_format"] == "webhook"
    assert as_event.json()["payload_format"] == "event"
    assert [o["status"] for o in outcomes] == ["replayed", "replayed"]
    stored = {e.message_id: e for e in _events(container)}
    assert set(stored) == {"evt_3PabcXYZ", "evt_2"}
    assert stored["evt_3PabcXYZ"].properties["provider"] == "stripe"  # went through the mapping
    assert "provider" not in stored["evt_2"].properties  # taken as the event it was given
    unknown = client.patch(f"/api/v1/dead-letters/{by_event}", json={"payload_format": "csv"})
    assert unknown.status_code == 422


def test_a_payload_of_several_events_replays_them_all(client: TestClient,
                                                     container: Container) -> None:
    mapping = {"each": "$.refunds", "event": "Refund Issued", "messageId": "$.id",
               "userId": "$.account"}  # the account is on the payload, not on each refund
    key = _source(container, "refunds", mapping)
    payload = {"account": "u-7", "refunds": [{"id": "r1"}, {"id": "r2"}]}
    refused = client.post("/v1/webhook", json=payload, auth=(key, ""))

    _remap(client, container, "refunds", {**mapping, "userId": "$$.account"})
    replayed = _replay(client, refused.json()["dead_letter_id"])

    assert refused.json()["code"] == "unmappable"
    stored = _events(container)
    assert [(e.message_id, e.user_id) for e in stored] == [("r1", "u-7"), ("r2", "u-7")]
    assert replayed["event_id"] == stored[0].id


def test_remapping_a_kept_payload_reads_the_mapping_as_it_is_now() -> None:
    drifted = orjson.loads(orjson.dumps(STRIPE_EVENT))
    drifted["data"]["object"]["amount_cents"] = drifted["data"]["object"].pop("amount")
    fixed = {**STRIPE_MAPPING, "properties": {**STRIPE_MAPPING["properties"],
                                              "amount": ["$.data.object.amount",
                                                         "$.data.object.amount_cents"]}}

    [remapped] = remap_for_replay(fixed, "api", orjson.dumps(drifted).decode())

    assert remapped["properties"]["amount"] == 2000
    assert remapped["messageId"] == "evt_3PabcXYZ"
    assert remapped["context"] == {"channel": "api"}
    with pytest.raises(Unmappable, match="not JSON") as not_json:
        remap_for_replay(fixed, "api", "event=charge")
    assert not_json.value.code == "malformed_json"
    with pytest.raises(Unmappable, match="no mapping") as unmapped:
        remap_for_replay({"signature": {"scheme": "shopify"}}, "api", "{}")
    assert unmapped.value.code == "no_mapping"


def test_a_body_that_is_not_json_is_a_dead_letter(client: TestClient,
                                                  container: Container) -> None:
    key = _source(container, "stripe", STRIPE_MAPPING)

    answer = client.post("/v1/webhook", content=b"event=charge", auth=(key, ""))

    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_json"
    [dead] = _dead(container)
    assert (dead.payload, dead.payload_format) == ("event=charge", "webhook")


def test_the_write_key_is_required_and_a_source_needs_a_mapping(
        client: TestClient, container: Container) -> None:
    key = _source(container, "no-mapping", {})

    assert client.post("/v1/webhook", json=STRIPE_EVENT).status_code == 401
    assert client.post("/v1/webhook", json=STRIPE_EVENT, auth=("rwk_wrong", "")).status_code == 401
    unmapped = client.post("/v1/webhook", json=STRIPE_EVENT, auth=(key, ""))
    assert unmapped.status_code == 409
    assert unmapped.json()["code"] == "no_mapping"


# ---- the resolver --------------------------------------------------------------------------


def test_paths_read_names_indexes_and_quoted_keys() -> None:
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "odd.key": {"x y": True}}

    assert parse_path("$.a.b[1].c").get(doc) == 2
    assert parse_path("$.a.b[-1].c").get(doc) == 2
    assert parse_path('$["odd.key"]["x y"]').get(doc) is True
    assert parse_path("$.a.missing").get(doc) is None
    assert parse_path("$").get(doc) == doc
    with pytest.raises(MappingError, match="cannot read"):
        parse_path("$.a..b")


def test_constants_optional_paths_fallbacks_and_each() -> None:
    mapping = {"event": {"const": "$ paid"}, "userId": ["$.user", "$$.account.owner"],
               "properties": {"note": "$.note?", "kind": "refund"},
               "each": "$.refunds", "messageId": "$.id"}
    payload = {"account": {"owner": "u-1"}, "refunds": [{"id": "r1"}, {"id": "r2"}]}

    events = apply(mapping, payload)

    assert [e["messageId"] for e in events] == ["r1", "r2"]
    assert events[0]["event"] == "$ paid"
    assert events[0]["properties"] == {"kind": "refund"}
    assert events[0]["userId"] == "u-1"  # $ is the item, $$ the whole payload
    with pytest.raises(Unmappable, match=r"item 0 of \$\.refunds: .*\$\.user or \$\.owner"):
        apply({**mapping, "userId": ["$.user", "$.owner"]}, {"refunds": [{"id": "r1"}]})


def test_a_mapping_is_checked_before_use() -> None:
    assert validate({"event": "x"}) == ["map userId or anonymousId (or both)"]
    assert "a track mapping needs event" in validate({"userId": "$.u"})[0]
    assert "unknown key 'evnt'" in validate({"evnt": "x", "event": "x", "userId": "$.u"})[0]
    # settings of the source kept in the same JSON are not field mappings
    assert validate({"event": "x", "userId": "$.u", "trait_priority": 5,
                     "signature": {"scheme": "shopify"}}) == []
