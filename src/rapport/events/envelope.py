"""The event envelope: validate and normalise one Segment-compatible message.

``normalise`` turns one raw message (a dict as a Segment, RudderStack or Rapport client sent
it) into an :class:`Envelope` ready for the ``events`` table, or raises :class:`Refused` with
a stable ``code`` and a reason saying what to fix; the collector keeps refused messages as
dead letters. What the rules are, and why, is in docs/collector.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from rapport.events.hub_models import CHANNELS, EVENT_TYPES

MAX_ID = 200  # message, user and anonymous ids, event names (the columns' width)
MAX_DEVICE = 128  # fingerprint and session id
MAX_SKEW_MS = 2**63 - 1  # the column is a 64-bit integer (migration 0010)
# What other libraries call their channel, as Rapport's channels.
CHANNEL_ALIASES = {"mobile": "app", "server": "api", "browser": "web", "sources": "api"}
DERIVED_MESSAGE_PREFIX = "rapport-"


class Refused(Exception):  # noqa: N818 - a refusal, not an error of the collector
    """The message cannot be stored; ``code`` is stable (docs/collector.md), ``reason`` says
    what to fix."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Arrival:
    """How a request arrived: the source, when, and from where (for derived fingerprints)."""

    source_id: int
    channel: str
    received_at: datetime
    client_ip: str | None
    user_agent: str | None
    secret: str


@dataclass(slots=True)
class Envelope:
    """One normalised event (``session_id`` is None until the collector derives it)."""

    message_id: str
    type: str
    name: str | None
    user_id: str | None
    anonymous_id: str | None
    timestamp: datetime
    sent_at: datetime | None
    skew_ms: int | None
    channel: str
    fingerprint: str
    fingerprint_derived: bool
    session_id: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    message_id_derived: bool = False
    session_derived: bool = False


def dump(raw: Any) -> bytes:
    """The message as compact JSON (its size, its dead-letter text); never raises."""
    try:
        return orjson.dumps(raw)
    except TypeError:  # integers beyond 64 bits and other values orjson refuses
        import json

        return json.dumps(raw, default=repr, ensure_ascii=False).encode("utf-8", "backslashreplace")


def derived_message_id(raw: Any) -> str:
    """A message id from the payload itself, so a retry of the same payload still dedups."""
    try:
        canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        canonical = dump(raw)
    return DERIVED_MESSAGE_PREFIX + hashlib.sha256(canonical).hexdigest()[:40]


def parse_time(value: Any, field: str) -> datetime:
    """ISO 8601 to UTC; a time without an offset is taken as UTC (docs/collector.md)."""
    if not isinstance(value, str) or not value.strip():
        raise Refused("bad_timestamp", f"{field} must be an ISO 8601 string such as "
                      f"2024-05-01T09:30:00.000Z, not {_show(value)}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise Refused("bad_timestamp", f"{field} {_show(value)} is not an ISO 8601 time; send "
                      "e.g. 2024-05-01T09:30:00.000Z") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise Refused("bad_timestamp", f"{field} {_show(value)} is out of range") from None


def _show(value: Any) -> str:
    text = dump(value).decode("utf-8", "replace")
    return text if len(text) <= 60 else text[:57] + "..."


def _identifier(raw: Mapping[str, Any], key: str, limit: int = MAX_ID) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused("invalid_field", f"{key} must be a string, not {_show(value)}")
    text = str(value).strip()
    if len(text) > limit:
        raise Refused("invalid_field", f"{key} is longer than {limit} characters")
    return text or None


def _object(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused("invalid_field", f"{key} must be a JSON object, not {_show(value)}")
    return value


def _channel(context: Mapping[str, Any], raw: Mapping[str, Any], default: str) -> str:
    for value in (context.get("channel"), raw.get("channel")):
        if isinstance(value, str):
            folded = value.strip().lower()
            if folded in CHANNELS:
                return folded
            if folded in CHANNEL_ALIASES:
                return CHANNEL_ALIASES[folded]
    return default


def fast_keyed_hash(secret: str, domain: str, value: str) -> str:
    """Keyed BLAKE2b (hex, 64 characters): as unguessable as HMAC-SHA256 without the secret,
    and several times cheaper on the hot path."""
    return hashlib.blake2b(f"{domain}\x00{value}".encode(), key=_blake_key(secret),
                           digest_size=32).hexdigest()


@lru_cache(maxsize=4)
def _blake_key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@lru_cache(maxsize=8192)
def _fingerprint(secret: str, source_id: int, user_agent: str, ip: str) -> str:
    ip_hash = fast_keyed_hash(secret, "ip", ip)
    return "d_" + fast_keyed_hash(secret, "fingerprint", f"{source_id}|{user_agent}|{ip_hash}")[:40]


def derive_fingerprint(arrival: Arrival, user_agent: str | None, ip: str | None) -> str:
    """Keyed hash of source + user agent + a hash of the IP: the same browser behind the same
    address on one source gets the same fingerprint; the clear IP is never stored."""
    return _fingerprint(arrival.secret, arrival.source_id, user_agent or "", ip or "")


def normalise(raw: Any, arrival: Arrival, *, call: str | None = None) -> Envelope:
    """Validate one message; ``call`` is the endpoint's type (``/v1/track``: ``track``),
    None for a batch item, which must say its ``type``."""
    if not isinstance(raw, dict):
        raise Refused("not_an_object", f"an event must be a JSON object, not {_show(raw)}")
    kind = raw.get("type", call) if call is None else call
    if not isinstance(kind, str) or kind.strip().lower() not in EVENT_TYPES:
        raise Refused("bad_type", f"type must be one of {', '.join(EVENT_TYPES)}, not "
                      f"{_show(kind)}")
    kind = kind.strip().lower()
    user_id = _identifier(raw, "userId")
    anonymous_id = _identifier(raw, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise Refused("missing_identity", "an event needs a userId or an anonymousId")
    properties = _object(raw, "properties")
    traits = _object(raw, "traits")
    context = _object(raw, "context")
    name: str | None = None
    if kind == "track":
        name = _identifier(raw, "event")
        if name is None:
            raise Refused("missing_field", "a track call needs an event name (event)")
    elif kind in ("page", "screen"):
        name = _identifier(raw, "name")
        category = raw.get("category")
        if isinstance(category, str) and category and "category" not in properties:
            properties = {**properties, "category": category}
    elif kind == "group":
        group_id = _identifier(raw, "groupId")
        if group_id is None:
            raise Refused("missing_field", "a group call needs a groupId")
        properties = {**properties, "groupId": group_id}
    elif kind == "alias":
        previous = _identifier(raw, "previousId")
        if previous is None:
            raise Refused("missing_field", "an alias call needs a previousId")
        if user_id is None:
            raise Refused("missing_field", "an alias call needs the new userId")
        properties = {**properties, "previousId": previous}

    message_id = _identifier(raw, "messageId")
    message_id_derived = message_id is None
    if message_id is None:
        message_id = derived_message_id(raw)

    received = arrival.received_at
    sent_at: datetime | None = None
    if raw.get("sentAt") is not None:
        try:
            sent_at = parse_time(raw["sentAt"], "sentAt")
        except Refused:
            sent_at = None  # no correction rather than no event (docs/collector.md)
    skew_ms: int | None = None
    if raw.get("timestamp") is None:
        timestamp = received
    else:
        timestamp = parse_time(raw["timestamp"], "timestamp")
        if sent_at is not None:
            skew = sent_at - received
            skew_ms = max(-MAX_SKEW_MS, min(MAX_SKEW_MS, round(skew / timedelta(milliseconds=1))))
            try:
                timestamp = timestamp - skew
            except OverflowError:
                raise Refused("bad_timestamp", "timestamp is out of range after clock-skew "
                              "correction") from None

    channel = _channel(context, raw, arrival.channel)
    device = context.get("device")
    device = device if isinstance(device, dict) else {}
    fingerprint = device.get("fingerprint")
    fingerprint_derived = False
    if isinstance(fingerprint, str | int) and not isinstance(fingerprint, bool) and str(fingerprint).strip():
        fingerprint = str(fingerprint).strip()
        if len(fingerprint) > MAX_DEVICE:
            raise Refused("invalid_field", f"context.device.fingerprint is longer than {MAX_DEVICE} characters")
    else:
        agent = context.get("userAgent")
        ip = context.get("ip")
        fingerprint = derive_fingerprint(
            arrival, agent if isinstance(agent, str) else arrival.user_agent,
            ip if isinstance(ip, str) else arrival.client_ip)
        fingerprint_derived = True
    session = context.get("session")
    session_id = session.get("id") if isinstance(session, dict) else None
    if session_id is None:
        session_id = context.get("sessionId")  # RudderStack's place for it
    if isinstance(session_id, bool) or not isinstance(session_id, str | int) or not str(session_id).strip():
        session_id = None
    else:
        session_id = str(session_id).strip()
        if len(session_id) > MAX_DEVICE:
            raise Refused("invalid_field", f"context.session.id is longer than {MAX_DEVICE} characters")

    context = {**context, "channel": channel,
               "device": {**device, "fingerprint": fingerprint}}
    if session_id is not None:
        context["session"] = {**(session if isinstance(session, dict) else {}), "id": session_id}
    return Envelope(
        message_id=message_id, type=kind, name=name, user_id=user_id, anonymous_id=anonymous_id,
        timestamp=timestamp, sent_at=sent_at, skew_ms=skew_ms, channel=channel,
        fingerprint=fingerprint, fingerprint_derived=fingerprint_derived, session_id=session_id,
        properties=properties, traits=traits, context=context,
        message_id_derived=message_id_derived, session_derived=session_id is None,
    )
