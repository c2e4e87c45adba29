"""Declarative mapping of third-party webhook JSON to Segment-shaped events (docs/sources.md).

A webhook source's ``mapping`` says where each event field comes from::

    {"type": "track",
     "event": "$.type",
     "userId": ["$.data.object.customer", "$.customer.id?"],
     "properties": {"amount": "$.data.object.amount", "plan": "gold"},
     "timestamp": "$.created",
     "messageId": "$.id"}

A string starting with ``$`` is a path into the payload; any other value is a constant
(``{"const": "$5"}`` for a constant that starts with ``$``). Paths are ``$`` then ``.name``,
``["name with.dots"]`` or ``[n]`` (``[-1]`` is the last item). Every path is required unless
it ends with ``?``; a list tries each path in turn and takes the first that is present.
``each`` (a path to an array) turns one payload into one event per item, with ``$`` the item
and ``$$`` the whole payload. A numeric ``timestamp`` is read as Unix seconds (milliseconds
above 10^12). Without a ``messageId`` mapping the id is a hash of the mapped payload, so a
vendor's retry of the same delivery is a duplicate, not a second event.

``signature`` (vendor signatures, rapport.events.webhook_signatures) and ``trait_priority``
(profiles) are settings of the source kept in the same JSON, not field mappings.

A payload the mapping cannot map is kept verbatim as a dead letter in the ``webhook`` payload
format, so a replay maps it again with the source's mapping as it is then
(:func:`remap_for_replay`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import update
from sqlalchemy.orm import Session

from rapport.events import collector
from rapport.events.envelope import dump
from rapport.events.hub_models import DeadLetter

MAX_PATH = 300
MAX_DEPTH = 8  # nesting of the mapping itself
_TOKEN = re.compile(r"""\.([A-Za-z_$@\-][\w$@\-]*)|\[(-?\d{1,6})\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*'([^']*)'\s*\]""")
ENVELOPE_FIELDS = ("type", "event", "name", "userId", "anonymousId", "groupId", "previousId",
                   "timestamp", "messageId", "category")
OBJECT_FIELDS = ("properties", "traits", "context")
TYPES = ("track", "identify", "page", "screen", "group", "alias")
SOURCE_KEYS = ("signature", "trait_priority")  # source settings beside the field mapping
PAYLOAD_FORMAT = "webhook"  # dead letters holding a vendor's body, mapped again on replay


class MappingError(ValueError):
    """The mapping itself is wrong (a path that does not parse, an unknown key)."""


class Unmappable(Exception):  # noqa: N818 - an outcome for one payload, kept as a dead letter
    """The payload lacks what the mapping requires; ``reason`` names the paths, ``code`` is
    the dead letter's code."""

    def __init__(self, reason: str, code: str = "unmappable") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


_MISSING = object()


@dataclass(frozen=True)
class Path:
    text: str
    root: str  # "$" (the item) or "$$" (the whole payload)
    steps: tuple[str | int, ...]
    optional: bool

    def resolve(self, item: Any, payload: Any) -> Any:
        value = payload if self.root == "$$" else item
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    return _MISSING
                value = value[step]
            else:
                if not isinstance(value, dict) or step not in value:
                    return _MISSING
                value = value[step]
        return value

    def get(self, item: Any, payload: Any = None) -> Any:
        """The value at this path, or None when the payload has none."""
        found = self.resolve(item, item if payload is None else payload)
        return None if found is _MISSING else found


def parse_path(text: str) -> Path:
    """``$.a.b[0]["c.d"]`` into steps; raises MappingError on anything else."""
    if len(text) > MAX_PATH:
        raise MappingError(f"path {text[:40]}... is longer than {MAX_PATH} characters")
    body = text.strip()
    optional = body.endswith("?")
    if optional:
        body = body[:-1]
    root = "$$" if body.startswith("$$") else "$"
    rest = body[len(root):]
    steps: list[str | int] = []
    pos = 0
    while pos < len(rest):
        match = _TOKEN.match(rest, pos)
        if match is None:
            raise MappingError(f"path {text!r}: cannot read {rest[pos:pos + 20]!r}; use .name, "
                               '[n] or ["name"]')
        name, index, dq, sq = match.groups()
        if index is not None:
            steps.append(int(index))
        elif dq is not None:
            steps.append(dq.replace('\\"', '"').replace("\\\\", "\\"))
        else:
            steps.append(name if name is not None else sq)
        pos = match.end()
    return Path(text, root, tuple(steps), optional)


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$")


def validate(mapping: Any) -> list[str]:
    """Problems with a mapping, as messages (empty: usable)."""
    if not isinstance(mapping, dict):
        return ["the mapping must be a JSON object"]
    problems: list[str] = []
    allowed = {*ENVELOPE_FIELDS, *OBJECT_FIELDS, "each"}
    for key in mapping:
        if key not in allowed and key not in SOURCE_KEYS:
            problems.append(f"unknown key {key!r}; use {', '.join(sorted(allowed))}")

    def check(value: Any, where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            problems.append(f"{where}: nested deeper than {MAX_DEPTH}")
            return
        if isinstance(value, list) and value and all(_is_path(v) for v in value):
            for v in value:
                check(v, where, depth + 1)
        elif _is_path(value):
            try:
                parse_path(value)
            except MappingError as exc:
                problems.append(f"{where}: {exc}")
        elif isinstance(value, dict) and set(value) != {"const"}:
            for k, v in value.items():
                check(v, f"{where}.{k}", depth + 1)

    for key, value in mapping.items():
        if key in allowed:
            check(value, key, 0)
    kind = mapping.get("type", "track")
    if not _is_path(kind) and kind not in TYPES:
        problems.append(f"type must be one of {', '.join(TYPES)} or a path")
    if kind == "track" and "event" not in mapping:
        problems.append("a track mapping needs event (a path or a constant name)")
    if "userId" not in mapping and "anonymousId" not in mapping:
        problems.append("map userId or anonymousId (or both)")
    return problems


class _Resolver:
    def __init__(self, item: Any, payload: Any) -> None:
        self.item = item
        self.payload = payload
        self.missing: list[str] = []

    def value(self, spec: Any, depth: int = 0) -> Any:
        if isinstance(spec, list) and spec and all(_is_path(v) for v in spec):
            paths = [parse_path(v) for v in spec]
            for path in paths:
                found = path.resolve(self.item, self.payload)
                if found is not _MISSING:
                    return found
            if not paths[-1].optional:
                self.missing.append(" or ".join(p.text for p in paths))
            return _MISSING
        if _is_path(spec):
            path = parse_path(spec)
            found = path.resolve(self.item, self.payload)
            if found is _MISSING and not path.optional:
                self.missing.append(path.text)
            return found
        if isinstance(spec, dict):
            if set(spec) == {"const"}:
                return spec["const"]
            out = {}
            for key, sub in spec.items():
                got = self.value(sub, depth + 1)
                if got is not _MISSING:
                    out[key] = got
            return out
        return spec


def has_field_mapping(mapping: dict[str, Any] | None) -> bool:
    """Does the source's mapping say how a payload becomes events (beyond source settings)?"""
    return any(key not in SOURCE_KEYS for key in mapping or {})


def _timestamp(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    seconds = value / 1000 if abs(value) > 10**12 else value
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return str(value)  # the collector refuses it with its reason


def _hash_id(item: Any) -> str:
    try:
        canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        canonical = repr(item).encode("utf-8", "backslashreplace")
    return "wh-" + hashlib.sha256(canonical).hexdigest()[:40]


def apply(mapping: dict[str, Any], payload: Any) -> list[dict[str, Any]]:
    """The Segment-shaped events a payload maps to; raises Unmappable when a required path
    is missing (the whole payload then goes to the dead-letter store)."""
    problems = validate(mapping)
    if problems:
        raise Unmappable("the source's mapping is invalid: " + "; ".join(problems))
    items: list[Any] = [payload]
    if "each" in mapping:
        each = mapping["each"]
        found = parse_path(each).resolve(payload, payload) if _is_path(each) else _MISSING
        if not isinstance(found, list):
            raise Unmappable(f"each: {each} is not an array in this payload")
        items = found
    events = []
    for n, item in enumerate(items):
        resolver = _Resolver(item, payload)
        event: dict[str, Any] = {}
        for key in (*ENVELOPE_FIELDS, *OBJECT_FIELDS):
            if key not in mapping:
                continue
            got = resolver.value(mapping[key])
            if got is _MISSING or got is None:
                continue
            if key in OBJECT_FIELDS and not isinstance(got, dict):
                resolver.missing.append(f"{key} (must map to an object)")
                continue
            if key in ENVELOPE_FIELDS and key != "timestamp" and isinstance(got, int | float) \
                    and not isinstance(got, bool):
                got = str(got)  # ids stay strings (an integer beyond 2^53 would lose digits)
            event[key] = got
        if resolver.missing:
            where = f"item {n} of {mapping['each']}: " if "each" in mapping else ""
            raise Unmappable(f"{where}the payload has no {', '.join(resolver.missing)} "
                             "(required by the source's mapping; end a path with ? to make it "
                             "optional)")
        event.setdefault("type", "track")
        if "timestamp" in event:
            event["timestamp"] = _timestamp(event["timestamp"])
        if "messageId" not in event:
            event["messageId"] = _hash_id([payload, n] if "each" in mapping else payload)
        events.append(event)
    return events


def events_for(mapping: dict[str, Any], channel: str, payload: Any) -> list[dict[str, Any]]:
    """:func:`apply`, with the source's channel as each event's ``context.channel`` (as the
    webhook endpoint sends them to the collector); raises Unmappable."""
    events = apply(mapping, payload)
    for event in events:
        context = event.setdefault("context", {})
        if isinstance(context, dict):
            context.setdefault("channel", channel)
    return events


def record_dead_letter(session: Session, source_id: int | None, code: str, reason: str,
                       payload: Any, *, message_id: Any = None,
                       payload_format: str | None = None,
                       received_at: datetime | None = None) -> int:
    """Keep something a source adapter could not turn into an event (a webhook the mapping
    cannot map, a bad order row, a malformed MQTT message), in the caller's transaction.
    ``payload_format`` names the adapter whose mapping a replay runs again (None: the
    payload is an event already)."""
    text = payload if isinstance(payload, str | bytes) else dump(payload)
    dead_id = collector.dead_letter(
        session, source_id, code[:60], reason, text, received_at=received_at,
        message_id=str(message_id)[:200] if message_id is not None else None)
    if payload_format is not None:
        mark_payload_format(session, [dead_id], payload_format)
    return dead_id


def mark_payload_format(session: Session, dead_letter_ids: list[int], payload_format: str) -> None:
    """Say that these open dead letters hold a source's own payload, not an event (the
    collector writes them; the adapter knows what it gave it)."""
    if dead_letter_ids:
        session.execute(update(DeadLetter).where(DeadLetter.id.in_(dead_letter_ids),
                                                 DeadLetter.status == "open")
                        .values(payload_format=payload_format))


def remap_for_replay(mapping: dict[str, Any], channel: str, payload: str) -> list[dict[str, Any]]:
    """A dead-lettered webhook body mapped again with the source's mapping as it is now (after
    it was fixed): the events the replay gives the collector. Raises Unmappable."""
    if not has_field_mapping(mapping):
        raise Unmappable("the source has no mapping: set one that says how the payload "
                         "becomes an event", code="no_mapping")
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Unmappable(f"the payload is not JSON: {exc}", code="malformed_json") from None
    return events_for(mapping, channel, parsed)
