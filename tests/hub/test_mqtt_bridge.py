"""The MQTT bridge against the real broker (Mosquitto; RAPPORT_TEST_MQTT_URL): messages on an
IoT source's topics become stored events, malformed ones dead letters, none dropped; a dead
letter keeps the message, and a plain replay maps it again once the mapping is fixed (tested
on the batch function, no broker needed)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from rapport.bootstrap import Container
from rapport.events import dead_letters, sources
from rapport.events.hub_models import DeadLetter, HubEvent
from rapport.events.mqtt_bridge import (
    BridgeConfig,
    BridgeConfigError,
    Message,
    MqttBridge,
    deliver,
    message_to_event,
    remap_for_replay,
)
from rapport.events.sources import SourceInfo
from rapport.events.webhook_mapping import Unmappable


def _wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def prefix() -> str:
    return f"rapport-test/{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sensors(container: Container, prefix: str) -> SourceInfo:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "factory-sensors", "iot", {
            "topics": [f"{prefix}/devices/+/telemetry"],
            "device_id_from": "topic[3]",
            "event": "Temperature Reading",
        })
        uow.commit()
    return issued.source


@pytest.fixture
def publisher(mqtt_url: str) -> Iterator[Callable[[str, bytes], None]]:
    parts = urlsplit(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()

    def publish(topic: str, payload: bytes) -> None:
        client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)

    yield publish
    client.disconnect()
    client.loop_stop()


def _count(container: Container, model: type[HubEvent] | type[DeadLetter]) -> int:
    with container.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_messages_become_events_and_a_malformed_one_a_dead_letter(
        container: Container, sensors: SourceInfo, prefix: str, mqtt_url: str,
        publisher: Callable[[str, bytes], None]) -> None:
    published: list[int] = []
    bridge = MqttBridge(container.session_factory, container.settings, sensors,
                        mqtt_url=mqtt_url, client_id="rapport-test-bridge-a",
                        publish=lambda refs: published.extend(r.id for r in refs))
    bridge.start()
    try:
        assert bridge.subscribed.wait(10), "the bridge did not subscribe"
        publisher(f"{prefix}/devices/press-7/telemetry",
                  orjson.dumps({"celsius": 71.5, "ts": "2024-05-01T09:30:00Z"}))
        publisher(f"{prefix}/devices/press-8/telemetry", orjson.dumps({"celsius": 64}))
        publisher(f"{prefix}/devices/press-9/telemetry", b"{celsius: 12")  # not JSON
        publisher(f"{prefix}/elsewhere/press-9/telemetry", orjson.dumps({"celsius": 1}))
        _wait_for(lambda: _count(container, HubEvent) == 2 and _count(container, DeadLetter) == 1)
    finally:
        bridge.stop()

    with container.session_factory() as session:
        events = {e.anonymous_id: e for e in session.scalars(select(HubEvent))}
        dead = session.scalars(select(DeadLetter)).one()
    assert set(events) == {"press-7", "press-8"}
    reading = events["press-7"]
    assert (reading.type, reading.name, reading.channel) == ("track", "Temperature Reading", "iot")
    assert reading.properties["celsius"] == 71.5
    assert reading.properties["topic"] == f"{prefix}/devices/press-7/telemetry"
    assert reading.timestamp.isoformat().startswith("2024-05-01T09:30:00")
    assert reading.context["device"]["id"] == "press-7"
    assert sorted(published) == sorted(e.id for e in events.values())
    assert (dead.code, dead.payload_format) == ("malformed_json", "mqtt")
    assert dead.source_id == sensors.id
    assert orjson.loads(dead.payload) == {"topic": f"{prefix}/devices/press-9/telemetry",
                                          "payload": "{celsius: 12"}
    assert (bridge.accepted, bridge.dead_lettered) == (2, 1)


def test_a_redelivered_reading_with_a_timestamp_is_stored_once(
        container: Container, sensors: SourceInfo, prefix: str, mqtt_url: str,
        publisher: Callable[[str, bytes], None]) -> None:
    bridge = MqttBridge(container.session_factory, container.settings, sensors,
                        mqtt_url=mqtt_url, client_id="rapport-test-bridge-b")
    bridge.start()
    try:
        assert bridge.subscribed.wait(10)
        reading = orjson.dumps({"celsius": 70, "ts": 1714555800})
        for _ in range(2):  # QoS 1 may deliver twice
            publisher(f"{prefix}/devices/press-7/telemetry", reading)
        publisher(f"{prefix}/devices/press-7/telemetry", orjson.dumps([1, 2]))
        _wait_for(lambda: _count(container, DeadLetter) == 1 and bridge.accepted
                  + bridge.dead_lettered >= 2)
        time.sleep(0.5)
    finally:
        bridge.stop()

    assert _count(container, HubEvent) == 1
    with container.session_factory() as session:
        assert session.scalars(select(DeadLetter.code)).one() == "not_an_object"


def test_a_message_without_the_device_id_is_malformed() -> None:
    config = BridgeConfig.from_mapping({"topics": ["t/#"], "device_id_from": "$.device.id"})

    event = message_to_event(config, "t/x", b'{"device": {"id": "d-1"}, "rpm": 900}')
    assert event["anonymousId"] == "d-1"
    assert event["properties"]["rpm"] == 900

    with pytest.raises(Exception, match=r"no device id at \$\.device\.id"):
        message_to_event(config, "t/x", b'{"rpm": 900}')


def test_a_source_without_topics_cannot_be_bridged(container: Container) -> None:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "no-topics", "iot", {})
        uow.commit()

    with pytest.raises(BridgeConfigError, match="topics"):
        MqttBridge(container.session_factory, container.settings, issued.source,
                   mqtt_url="mqtt://127.0.0.1:1883")


# ---- dead letters replayed through the source's mapping (the batch function, no broker) ------


def _deliver(container: Container, source: SourceInfo, *messages: tuple[str, bytes]) -> None:
    config = BridgeConfig.from_mapping(source.mapping)
    deliver(container.session_factory, container.settings, source, config,
            [Message(topic, payload, n, 1) for n, (topic, payload) in enumerate(messages)])


def _remap_and_replay(container: Container, source: SourceInfo,
                      mapping: dict[str, object]) -> list[dead_letters.Replayed]:
    with container.uow() as uow:
        sources.update_source(uow.session, source.id, mapping=mapping)
        ids = dead_letters.open_ids(uow.session, dead_letters.Filters(source_id=source.id))
        outcomes = [dead_letters.replay(uow.session, container.settings, i) for i in ids]
        uow.commit()
    return outcomes


def _gauges(container: Container) -> SourceInfo:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "gauges", "iot", {
            "topics": ["plant/+/gauge"], "device_id_from": "$.device_id"})
        uow.commit()
    return issued.source


def test_a_message_without_the_device_id_replays_once_the_mapping_reads_it(
        container: Container) -> None:
    source = _gauges(container)
    reading = orjson.dumps({"serial": "press-7", "bar": 4.2, "ts": 1714555800})
    _deliver(container, source, ("plant/press-7/gauge", reading))
    with container.session_factory() as session:
        dead = session.scalars(select(DeadLetter)).one()

    [outcome] = _remap_and_replay(container, source, {"topics": ["plant/+/gauge"],
                                                      "device_id_from": "topic[1]"})

    assert (dead.code, dead.payload_format) == ("missing_device_id", "mqtt")
    assert orjson.loads(dead.payload) == {"topic": "plant/press-7/gauge",
                                          "payload": reading.decode()}
    assert outcome.status == "replayed"
    with container.session_factory() as session:
        event = session.scalars(select(HubEvent)).one()
        replayed = session.get(DeadLetter, dead.id)
    assert (event.anonymous_id, event.channel, event.name) == ("press-7", "iot", "Device Telemetry")
    assert event.properties["bar"] == 4.2
    assert event.timestamp.isoformat().startswith("2024-05-01T09:30:00")
    assert replayed is not None
    assert (replayed.status, replayed.replayed_event_id) == ("replayed", event.id)


def test_a_reading_the_collector_refuses_keeps_the_message_for_the_replay(
        container: Container) -> None:
    with container.uow() as uow:
        source = sources.create_source(uow.session, "meters", "iot", {
            "topics": ["meters/#"], "device_id_from": "topic[1]",
            "timestamp_from": "$.unit"}).source  # a wrong path: "kWh" is not a time
        uow.commit()
    reading = orjson.dumps({"unit": "kWh", "at": "2024-05-01T09:30:00Z", "value": 12})
    _deliver(container, source, ("meters/m-1", reading))
    with container.session_factory() as session:
        dead = session.scalars(select(DeadLetter)).one()
    still_wrong = _remap_and_replay(container, source, {**source.mapping, "event": "Reading"})

    fixed = _remap_and_replay(container, source, {**source.mapping, "timestamp_from": "$.at"})

    assert (dead.code, dead.payload_format) == ("bad_timestamp", "mqtt")
    assert orjson.loads(dead.payload)["topic"] == "meters/m-1"
    assert [(o.status, o.code) for o in still_wrong] == [("open", "bad_timestamp")]
    assert [o.status for o in fixed] == ["replayed"]
    assert _count(container, HubEvent) == 1


def test_remapping_an_mqtt_dead_letter_names_what_is_still_wrong() -> None:
    mapping = {"topics": ["t/#"], "device_id_from": "$.id"}

    [event] = remap_for_replay(mapping, "iot", orjson.dumps(
        {"topic": "t/1", "payload": '{"id": "d-1"}'}).decode())
    assert event["anonymousId"] == "d-1"
    for payload, code in [("not json", "malformed_json"),
                          ('{"payload": "{}"}', "not_an_object"),
                          ('{"topic": "t/1", "payload": "[1]"}', "not_an_object"),
                          ('{"topic": "t/1", "payload": "{}"}', "missing_device_id")]:
        with pytest.raises(Unmappable) as refused:
            remap_for_replay(mapping, "iot", payload)
        assert refused.value.code == code
    with pytest.raises(Unmappable, match="topics") as unusable:
        remap_for_replay({}, "iot", '{"topic": "t/1", "payload": "{}"}')
    assert unusable.value.code == "bad_mapping"
