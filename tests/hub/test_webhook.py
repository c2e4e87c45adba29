"""Third-party webhooks: ``POST /v1/webhook`` maps generic JSON to events with the source's
declarative mapping; what the mapping cannot map is a dead letter with the reason."""

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

STRIPE_MAPPING = {
    "type": "track",
    "event": "$.type",
    "messageId": "$.id",
    "timestamp": "$.created",
    "anonymousId": "$.data.object.customer",
    "traits": {"email": "$.data.object.billing_details.email?",
               "external_id": "$.data.object.customer"},
    "properties": {"amount": "$.data.object.amount", "currency": "$.data.object.currency",
                   "charge_id": "$.data.object.id", "provider": "stripe"},
}
STRIPE_EVENT = {
    "id": "evt_3PabcXYZ", "object": "event", "type": "charge.succeeded", "created": 1714555800,
    "data": {"object": {"id": "ch_3Pabc", "object": "charge", "amount": 2000, "currency": "usd",
                        "customer": "cus_Q1w2e3",
                        "billing_details": {"email": "ana@example.com", "name": "Ana Lima"}}},
}
SHOPIFY_MAPPING = {
    "event": "Order Completed",
    "messageId": "$.id",
    "timestamp": "$.created_at",
    "anonymousId": ["$.customer.id", "$.email"],
    "traits": {"email": "$.email?", "phone": "$.customer.phone?"},
    "properties": {"order_id": "$.id", "total": "$.total_price", "currency": "$.currency",
                   "products": "$.line_items", "first_sku": "$.line_items[0].sku",
                   "shop": "$[\"x-shop.domain\"]?"},
}
SHOPIFY_ORDER = {
    "id": 820982911946154508, "email": "jon@example.com",
    "created_at": "2024-05-01T09:30:00-04:00", "total_price": "199.00", "currency": "USD",
    "x-shop.domain": "demo.myshopify.com",
    "customer": {"id": 115310627314723954, "phone": "+16135550111"},
    "line_items": [{"sku": "IPOD-2GB", "title": "iPod Nano", "quantity": 1, "price": "199.00"}],
}


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
    assert _events(container) == []

    # once the mapping is fixed, the kept payload maps (the replay's input)
    fixed = {**STRIPE_MAPPING, "properties": {**STRIPE_MAPPING["properties"],
                                              "amount": ["$.data.object.amount",
                                                         "$.data.object.amount_cents"]}}
    remapped = orjson.loads(remap_for_replay(fixed, dead.payload))
    assert remapped["properties"]["amount"] == 2000
    assert remapped["messageId"] == "evt_3PabcXYZ"


def test_a_body_that_is_not_json_is_a_dead_letter(client: TestClient,
                                                  container: Container) -> None:
    key = _source(container, "stripe", STRIPE_MAPPING)

    answer = client.post("/v1/webhook", content=b"event=charge", auth=(key, ""))

    assert answer.status_code == 400
    assert answer.json()["code"] == "malformed_json"
    assert _dead(container)[0].payload == "event=charge"


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
