"""Mobile apps send events over HTTP like any Segment library (docs/sources.md): an iOS
app's payload to an app source is stored with channel ``app`` and its device context."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events import sources
from rapport.events.hub_models import HubEvent

# What Segment's analytics-swift sends for a screen view and a tap (trimmed to the fields
# that matter; the library adds library/os/network details the same way).
IOS_BATCH = {
    "batch": [
        {"type": "screen", "name": "Product", "messageId": "ios-1F0C-0001",
         "anonymousId": "8E2A3C1B-7D44-4B0E-9C1A-5B2F3E4D6A71",
         "timestamp": "2024-05-01T09:30:00.120+08:00",
         "properties": {"sku": "EMC-200"},
         "context": {
             "app": {"name": "Rapport Demo", "version": "3.2.0", "build": "412",
                     "namespace": "com.example.rapportdemo"},
             "device": {"type": "ios", "model": "iPhone15,2", "manufacturer": "Apple",
                        "id": "B7F3C1D2-0A9E-4F8B-8C7D-6E5F4A3B2C1D"},
             "os": {"name": "iOS", "version": "17.4"},
             "screen": {"width": 393, "height": 852},
             "library": {"name": "analytics-swift", "version": "1.5.6"},
             "session": {"id": "1714527000"},
         }},
        {"type": "track", "event": "Add To Cart", "messageId": "ios-1F0C-0002",
         "anonymousId": "8E2A3C1B-7D44-4B0E-9C1A-5B2F3E4D6A71", "userId": "u-4021",
         "timestamp": "2024-05-01T09:30:07.500+08:00",
         "properties": {"sku": "EMC-200", "quantity": 1},
         "context": {"app": {"name": "Rapport Demo", "version": "3.2.0"},
                     "device": {"type": "ios"}, "library": {"name": "analytics-swift"}}},
    ],
}


def test_an_ios_batch_is_stored_with_channel_app(client: TestClient,
                                                 container: Container) -> None:
    with container.uow() as uow:
        key = sources.create_source(uow.session, "ios-app", "app").write_key
        uow.commit()
    basic = base64.b64encode(f"{key}:".encode()).decode()

    answer = client.post("/v1/batch", json=IOS_BATCH, headers={
        "Authorization": f"Basic {basic}", "User-Agent": "Rapport%20Demo/412 CFNetwork/1494"})

    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 2
    with container.session_factory() as session:
        events = list(session.scalars(select(HubEvent).order_by(HubEvent.message_id)))
    assert [(e.type, e.channel) for e in events] == [("screen", "app"), ("track", "app")]
    screen, tap = events
    assert screen.name == "Product"
    assert screen.context["app"]["namespace"] == "com.example.rapportdemo"
    assert screen.context["device"]["type"] == "ios"
    assert screen.session_id == "1714527000"
    assert not screen.session_derived
    # a library that sends no fingerprint gets a derived one, marked as such
    assert screen.fingerprint_derived
    assert screen.fingerprint
    assert tap.user_id == "u-4021"
    assert tap.properties == {"sku": "EMC-200", "quantity": 1}
