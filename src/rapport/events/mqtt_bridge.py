"""MQTT bridge: messages on an IoT source's topics become track events through the collector.

The source's ``mapping`` configures it (docs/sources.md)::

    {"topics": ["devices/+/telemetry"],      # MQTT filters, + and # allowed
     "device_id_from": "topic[1]",           # or a payload path such as "$.device.id"
     "identify_as": "anonymousId",           # or "userId"
     "event": "Device Telemetry",            # a constant, "topic[n]" or "$.path"
     "timestamp_from": "$.ts",               # optional: ISO 8601 or Unix seconds/ms
     "message_id_from": "$.seq"}             # optional: the device's own message id

Delivery is at least once and nothing is dropped: the bridge subscribes with QoS 1 on a
persistent session (a fixed client id per source, clean session off) and acknowledges a
message only after the transaction holding its event or dead letter has committed, so a
bridge that dies mid-batch gets the unacknowledged messages again from the broker. Messages
that are not a JSON object, or that lack the device id, are dead letters with the topic and
the original payload (``{"topic": ..., "payload": "<text>"}``, payload format ``mqtt``), and so
is a message whose event the collector refuses: a replay maps it again with the source's
mapping as it is then (:func:`remap_for_replay`). The broker connection is retried with
back-off (1 s doubling to 60 s).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.events.collector import ingest
from rapport.events.envelope import dump
from rapport.events.hub_bus import StoredEventRef
from rapport.events.sources import SourceInfo
from rapport.events.webhook_mapping import (
    MappingError,
    Unmappable,
    mark_payload_format,
    parse_path,
    record_dead_letter,
)

log = logging.getLogger(__name__)

QOS = 1
BATCH = 200  # messages per transaction
LINGER_SECONDS = 0.2  # wait this long for more messages before committing a batch
RECONNECT_MIN, RECONNECT_MAX = 1, 60
USER_AGENT = "rapport-mqtt-bridge"
DEFAULT_EVENT = "Device Telemetry"
PAYLOAD_FORMAT = "mqtt"  # dead letters holding {"topic", "payload"}, mapped again on replay
_TOPIC_INDEX = re.compile(r"^topic\[(-?\d{1,3})\]$")
_TIME_KEYS = ("timestamp", "ts", "time")


class BridgeConfigError(ValueError):
    """The source's mapping cannot drive the bridge; the message says what to fix."""


@dataclass(frozen=True)
class BridgeConfig:
    topics: tuple[str, ...]
    device_id_from: str
    identify_as: str = "anonymousId"
    event: str = DEFAULT_EVENT
    timestamp_from: str | None = None
    message_id_from: str | None = None

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> BridgeConfig:
        topics = mapping.get("topics")
        if isinstance(topics, str):
            topics = [topics]
        if not isinstance(topics, list) or not topics or not all(
                isinstance(t, str) and t.strip() for t in topics):
            raise BridgeConfigError('the source mapping needs "topics": a list of MQTT topic '
                                    'filters such as ["devices/+/telemetry"]')
        device = mapping.get("device_id_from", "$.device_id")
        identify_as = mapping.get("identify_as", "anonymousId")
        if identify_as not in ("anonymousId", "userId"):
            raise BridgeConfigError('identify_as must be "anonymousId" or "userId"')
        config = cls(topics=tuple(t.strip() for t in topics), device_id_from=str(device),
                     identify_as=identify_as, event=str(mapping.get("event", DEFAULT_EVENT)),
                     timestamp_from=mapping.get("timestamp_from"),
                     message_id_from=mapping.get("message_id_from"))
        for spec in (config.device_id_from, config.event, config.timestamp_from,
                     config.message_id_from):
            if spec is not None and spec.startswith("$"):
                try:
                    parse_path(spec)
                except MappingError as exc:
                    raise BridgeConfigError(str(exc)) from None
        if not (_TOPIC_INDEX.match(config.device_id_from) or config.device_id_from.startswith("$")):
            raise BridgeConfigError('device_id_from must be "topic[n]" or a payload path such '
                                    'as "$.device_id"')
        return config


class Malformed(Exception):  # noqa: N818 - an outcome for one message, kept as a dead letter
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _pick(spec: str, topic: str, payload: dict[str, Any]) -> Any:
    match = _TOPIC_INDEX.match(spec)
    if match:
        levels = topic.split("/")
        index = int(match.group(1))
        return levels[index] if -len(levels) <= index < len(levels) else None
    if spec.startswith("$"):
        return parse_path(spec).get(payload)
    return spec


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _time(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 10**12 else value
        try:
            return datetime.fromtimestamp(seconds, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return str(value)  # the collector dead-letters it with its reason
    return value


def message_to_event(config: BridgeConfig, topic: str, payload: bytes) -> dict[str, Any]:
    """The track event of one MQTT message; raises Malformed (then kept as a dead letter)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Malformed("malformed_json", f"the message on {topic} is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Malformed("not_an_object", f"the message on {topic} must be a JSON object")
    device = _text(_pick(config.device_id_from, topic, body))
    if device is None:
        raise Malformed("missing_device_id", f"no device id at {config.device_id_from} in the "
                        f"message on {topic}")
    name = _text(_pick(config.event, topic, body)) or DEFAULT_EVENT
    event: dict[str, Any] = {
        "type": "track", "event": name[:200], config.identify_as: device[:200],
        "properties": {**body, "topic": topic, "device_id": device},
        "context": {"channel": "iot", "device": {"id": device, "type": "iot"},
                    "library": {"name": USER_AGENT, "version": "1"}},
    }
    stamp = _pick(config.timestamp_from, topic, body) if config.timestamp_from else next(
        (body[k] for k in _TIME_KEYS if k in body), None)
    if stamp is not None:
        event["timestamp"] = _time(stamp)
    own_id = _text(_pick(config.message_id_from, topic, body)) if config.message_id_from else None
    if own_id is not None:
        event["messageId"] = f"{device}:{own_id}"[:200]
    elif stamp is not None:
        # a redelivered message (same topic and bytes) is a duplicate, not a second reading
        event["messageId"] = "mqtt-" + hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()[:40]
    else:
        # nothing tells two identical readings apart: every delivery is its own event
        event["messageId"] = "mqtt-" + uuid.uuid4().hex
    return event


@dataclass(frozen=True)
class Message:
    """One MQTT message as received (acknowledged after the commit that stores it)."""

    topic: str
    payload: bytes
    mid: int
    qos: int

    def kept(self) -> str:
        """The message as a dead letter keeps it (and a replay reads it back)."""
        return dump({"topic": self.topic,
                     "payload": self.payload.decode("utf-8", "backslashreplace")}).decode()


def deliver(session_factory: Callable[[], Session], settings: Settings, source: SourceInfo,
            config: BridgeConfig, messages: Sequence[Message]) -> tuple[list[StoredEventRef], int, int]:
    """Ingest one batch in one transaction; returns (stored refs, accepted, dead-lettered)."""
    events: list[dict[str, Any]] = []
    originals: list[str | None] = []
    bad: list[tuple[Message, Malformed]] = []
    for message in messages:
        try:
            events.append(message_to_event(config, message.topic, message.payload))
            originals.append(message.kept())
        except Malformed as refusal:
            bad.append((message, refusal))
    now = datetime.now(UTC)
    with session_factory() as session:
        result = ingest(session, settings, source, events, received_at=now,
                        user_agent=USER_AGENT, originals=originals) if events else None
        if result is not None:
            mark_payload_format(session, [o.dead_letter_id for o in result.refused
                                          if o.dead_letter_id is not None], PAYLOAD_FORMAT)
        for message, problem in bad:
            record_dead_letter(session, source.id, problem.code, problem.reason, message.kept(),
                               payload_format=PAYLOAD_FORMAT, received_at=now)
        session.commit()
    if result is None:
        return [], 0, len(bad)
    return result.stored, result.accepted, len(bad) + result.dead_lettered


def remap_for_replay(mapping: dict[str, Any], channel: str, payload: str) -> list[dict[str, Any]]:
    """A dead-lettered MQTT message (``{"topic", "payload"}``) turned into its event again with
    the source's mapping as it is now; raises Unmappable with the bridge's code and reason."""
    try:
        kept = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Unmappable(f"the dead letter is not JSON: {exc}", code="malformed_json") from None
    if not isinstance(kept, dict) or not isinstance(kept.get("topic"), str) \
            or not isinstance(kept.get("payload"), str):
        raise Unmappable('an MQTT dead letter holds {"topic": "...", "payload": "<the message '
                         'text>"}', code="not_an_object")
    try:
        config = BridgeConfig.from_mapping(mapping)
    except BridgeConfigError as exc:
        raise Unmappable(f"the source's mapping cannot drive the bridge: {exc}",
                         code="bad_mapping") from None
    try:
        return [message_to_event(config, kept["topic"], kept["payload"].encode())]
    except Malformed as exc:
        raise Unmappable(exc.reason, code=exc.code) from None


def _broker(url: str) -> tuple[str, int, str | None, str | None, bool]:
    parts = urlsplit(url or "mqtt://127.0.0.1:1883")
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise BridgeConfigError(f"RAPPORT_MQTT_URL must be mqtt://host:port or mqtts://..., "
                                f"not {parts.scheme}://")
    tls = parts.scheme in ("mqtts", "ssl")
    return (parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None, tls)


class MqttBridge:
    """Subscribes to an IoT source's topics and ingests what arrives (see module docstring).

    ``start`` connects in the background (retrying with back-off) and returns; ``stop``
    finishes the batch in hand and disconnects. ``publish`` receives stored events after
    each commit (the container's event bus)."""

    def __init__(self, session_factory: Callable[[], Session], settings: Settings,
                 source: SourceInfo, *, mqtt_url: str | None = None,
                 publish: Callable[[list[StoredEventRef]], None] | None = None,
                 client_id: str | None = None) -> None:
        if source.channel != "iot":
            raise BridgeConfigError(f"source {source.name!r} has channel {source.channel}; the "
                                    "MQTT bridge takes iot sources")
        self.config = BridgeConfig.from_mapping(source.mapping)
        self.source = source
        self._factory = session_factory
        self._settings = settings
        self._publish = publish
        self._url = mqtt_url or settings.mqtt_url
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self.accepted = 0
        self.dead_lettered = 0
        self.errors = 0
        host, port, user, password, tls = _broker(self._url)
        self._host, self._port = host, port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"rapport-bridge-{source.id}",
            clean_session=False, manual_ack=True)
        if user:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._worker = threading.Thread(target=self._run, name=f"mqtt-bridge-{source.name}",
                                        daemon=True)

    # ---- paho callbacks (network thread) ------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker %s:%s refused the bridge: %s", self._host, self._port, reason)
            return
        log.info("MQTT bridge for %s connected to %s:%s", self.source.name, self._host, self._port)
        client.subscribe([(topic, QOS) for topic in self.config.topics])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        self.subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("MQTT bridge for %s lost the broker (%s); reconnecting",
                        self.source.name, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(Message(message.topic, bytes(message.payload), message.mid, message.qos))

    # ---- the worker: batches, commits, then acknowledges -------------------------------

    def _take(self) -> list[Message]:
        try:
            first = self._inbox.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < BATCH:
            try:
                batch.append(self._inbox.get(timeout=LINGER_SECONDS))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        backoff = RECONNECT_MIN
        held: list[Message] = []
        while not (self._stop.is_set() and not held and self._inbox.empty()):
            batch = held or self._take()
            if not batch:
                continue
            try:
                stored, accepted, dead = deliver(self._factory, self._settings, self.source,
                                                 self.config, batch)
            except Exception:  # the database, not the messages: keep them, retry
                self.errors += 1
                log.exception("MQTT bridge could not store %d message(s); retrying in %ss",
                              len(batch), backoff)
                held = batch
                self._stop.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX)
                if self._stop.is_set():
                    return  # unacknowledged: the broker delivers them again
                continue
            held, backoff = [], RECONNECT_MIN
            self.accepted += accepted
            self.dead_lettered += dead
            for message in batch:
                if message.qos > 0:
                    self.client.ack(message.mid, message.qos)
            if self._publish is not None and stored:
                self._publish(stored)

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._worker.start()
        self.client.connect_async(self._host, self._port, keepalive=30)
        self.client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._worker.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def run_forever(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()
