"""Dead letters: list, inspect, fix (replace the payload), replay through the collector, discard.

A replay runs the stored payload through the same path as a live request, with the dead
letter's original arrival time (so clock-skew correction gives the same answer): accepted (or
already stored) -> ``replayed`` with the event's id; refused again -> stays ``open`` with the
new reason and one more attempt.

A dead letter's ``payload_format`` says what its payload is: an event (None), or a source's
own payload kept as it arrived — a webhook body (``webhook``) or an MQTT message (``mqtt``).
The replay of the latter runs the source's mapping as it is *now* first (:data:`REMAPPERS`),
so once the mapping is fixed a plain replay succeeds; a fix may also replace the payload,
keeping its format or turning it into an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.db.base import utcnow
from rapport.errors import Conflict, FieldError, NotFound, ValidationFailed
from rapport.events import collector, mqtt_bridge, webhook_mapping
from rapport.events.envelope import dump
from rapport.events.hub_bus import StoredEventRef
from rapport.events.hub_models import DeadLetter, HubEvent, Source
from rapport.events.sources import SourceInfo, get_source
from rapport.events.webhook_mapping import Unmappable

Remap = Callable[[dict[str, Any], str, str], list[dict[str, Any]]]
# payload format -> (source mapping, source channel, payload) -> the events it maps to now
REMAPPERS: dict[str, Remap] = {
    webhook_mapping.PAYLOAD_FORMAT: webhook_mapping.remap_for_replay,
    mqtt_bridge.PAYLOAD_FORMAT: mqtt_bridge.remap_for_replay,
}
EVENT_FORMAT = "event"
PAYLOAD_FORMATS = (EVENT_FORMAT, *REMAPPERS)
STATUSES = ("open", "replayed", "discarded")


@dataclass(frozen=True)
class DeadLetterInfo:
    id: int
    source_id: int | None
    source_name: str | None
    received_at: datetime
    code: str
    reason: str
    message_id: str | None
    status: str
    attempts: int
    replayed_event_id: int | None
    updated_at: datetime
    payload: str
    payload_format: str = EVENT_FORMAT

    def as_json(self, *, payload: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "source_id": self.source_id, "source": self.source_name,
            "received_at": self.received_at.isoformat(), "code": self.code,
            "reason": self.reason, "message_id": self.message_id, "status": self.status,
            "payload_format": self.payload_format,
            "attempts": self.attempts, "replayed_event_id": self.replayed_event_id,
            "updated_at": self.updated_at.isoformat(), "payload_bytes": len(self.payload.encode()),
        }
        if payload:
            data["payload"] = self.payload
        return data


@dataclass(frozen=True)
class Filters:
    source_id: int | None = None
    code: str | None = None
    status: str | None = None

    def where(self) -> list[Any]:
        clauses: list[Any] = []
        if self.source_id is not None:
            clauses.append(DeadLetter.source_id == self.source_id)
        if self.code:
            clauses.append(DeadLetter.code == self.code)
        if self.status:
            clauses.append(DeadLetter.status == self.status)
        return clauses


@dataclass(frozen=True)
class Replayed:
    """One replay's outcome: ``replayed`` (event_id, the first when the payload maps to
    several) or ``open``/``discarded`` (the new code and reason). ``stored``: the events
    this replay stored, to publish after commit."""

    dead_letter_id: int
    status: str
    event_id: int | None = None
    code: str | None = None
    reason: str | None = None
    stored: tuple[StoredEventRef, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"dead_letter_id": self.dead_letter_id, "status": self.status,
                "event_id": self.event_id, "code": self.code, "reason": self.reason}


def check_status(status: str | None) -> str | None:
    if status and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}",
                               errors=[FieldError("status", "one of " + ", ".join(STATUSES))])
    return status or None


def resolve_source(session: Session, source: str | int | None) -> int | None:
    """A source filter given as an id or a name."""
    if source is None or source == "":
        return None
    text = str(source).strip()
    if text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    found = session.scalar(select(Source.id).where(func.lower(Source.name) == text.lower()))
    if found is None:
        raise NotFound(f"No source named {text!r}")
    return int(found)


def _info(row: DeadLetter, names: dict[int, str]) -> DeadLetterInfo:
    return DeadLetterInfo(
        id=row.id, source_id=row.source_id,
        source_name=names.get(row.source_id) if row.source_id is not None else None,
        received_at=row.received_at, code=row.code, reason=row.reason,
        message_id=row.message_id, status=row.status, attempts=row.attempts,
        replayed_event_id=row.replayed_event_id, updated_at=row.updated_at, payload=row.payload,
        payload_format=row.payload_format or EVENT_FORMAT)


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {r.id: r.name for r in session.execute(select(Source.id, Source.name)
                                                  .where(Source.id.in_(ids)))}


def list_dead_letters(session: Session, filters: Filters, *, before_id: int | None = None,
                      limit: int = 50) -> tuple[list[DeadLetterInfo], int | None]:
    """Newest first, keyset-paginated by id; returns the page and the next cursor."""
    stmt = select(DeadLetter).where(*filters.where()).order_by(DeadLetter.id.desc()).limit(limit + 1)
    if before_id is not None:
        stmt = stmt.where(DeadLetter.id < before_id)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    names = _names(session, {r.source_id for r in rows if r.source_id is not None})
    return [_info(r, names) for r in rows], (rows[-1].id if more and rows else None)


def counts(session: Session, filters: Filters) -> dict[str, int]:
    rows = session.execute(select(DeadLetter.status, func.count()).where(*filters.where())
                           .group_by(DeadLetter.status))
    return {str(s): int(n) for s, n in rows}


def _load(session: Session, dead_letter_id: int, *, lock: bool = False) -> DeadLetter:
    stmt = select(DeadLetter).where(DeadLetter.id == dead_letter_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"No dead letter {dead_letter_id}")
    return row


def get_dead_letter(session: Session, dead_letter_id: int) -> DeadLetterInfo:
    row = _load(session, dead_letter_id)
    return _info(row, _names(session, {row.source_id} if row.source_id is not None else set()))


def _open(row: DeadLetter, doing: str) -> None:
    if row.status != "open":
        raise Conflict(f"Dead letter {row.id} is {row.status}; only open ones can be {doing}")


def check_payload_format(payload_format: str | None) -> str | None:
    if payload_format is not None and payload_format not in PAYLOAD_FORMATS:
        raise ValidationFailed(f"payload_format must be one of {', '.join(PAYLOAD_FORMATS)}",
                               errors=[FieldError("payload_format",
                                                  "one of " + ", ".join(PAYLOAD_FORMATS))])
    return payload_format


def fix_payload(session: Session, settings: Settings, dead_letter_id: int, payload: str | None,
                payload_format: str | None = None) -> DeadLetterInfo:
    """Replace the payload of an open dead letter (replay it afterwards). ``payload_format``
    (``event``, ``webhook``, ``mqtt``) says what the new payload is; None keeps the current
    one (a corrected webhook body is still mapped on replay)."""
    chosen = check_payload_format(payload_format)
    row = _load(session, dead_letter_id, lock=True)
    _open(row, "edited")
    if payload is None and chosen is None:
        raise ValidationFailed("Send a payload, a payload_format or both",
                               errors=[FieldError("payload", "required")])
    if payload is not None:
        if len(payload.encode()) > settings.batch_max_bytes:
            raise ValidationFailed(f"A payload has at most {settings.batch_max_bytes} bytes",
                                   errors=[FieldError("payload", "too large")])
        row.payload = collector.payload_text(payload)
    if chosen is not None:
        row.payload_format = None if chosen == EVENT_FORMAT else chosen
    row.updated_at = utcnow()
    session.flush()
    return get_dead_letter(session, dead_letter_id)


def discard(session: Session, dead_letter_id: int) -> DeadLetterInfo:
    row = _load(session, dead_letter_id, lock=True)
    _open(row, "discarded")
    row.status = "discarded"
    row.updated_at = utcnow()
    session.flush()
    return get_dead_letter(session, dead_letter_id)


def _events_of(row: DeadLetter, source: SourceInfo) -> list[str]:
    """The event texts a dead letter replays: its payload, or what the source's mapping makes
    of it now; raises Unmappable."""
    if row.payload_format is None:
        return [row.payload]
    remap = REMAPPERS.get(row.payload_format)
    if remap is None:
        raise Unmappable(f"payload format {row.payload_format!r} is unknown; fix the payload as "
                         "an event", code="unknown_format")
    events = remap(dict(source.mapping), source.channel, row.payload)
    if not events:
        raise Unmappable("the payload maps to no event (an empty array at each?)")
    return [dump(event).decode() for event in events]


def replay(session: Session, settings: Settings, dead_letter_id: int) -> Replayed:
    """Run one open dead letter through the collector again (in the caller's transaction).

    A payload that maps to several events (``each``) replays them all: those stored are kept
    even if another is refused (a later replay finds them stored, a no-op)."""
    row = _load(session, dead_letter_id, lock=True)
    _open(row, "replayed")
    row.attempts += 1
    row.updated_at = utcnow()
    source: SourceInfo | None = None
    if row.source_id is not None:
        try:
            source = get_source(session, row.source_id)
        except NotFound:
            source = None
    if source is None:
        row.code, row.reason = "no_source", "its source no longer exists; it cannot be replayed"
        session.flush()
        return Replayed(row.id, "open", code=row.code, reason=row.reason)
    try:
        texts = _events_of(row, source)
    except Unmappable as exc:
        row.code, row.reason = exc.code[:60], exc.reason
        session.flush()
        return Replayed(row.id, "open", code=row.code, reason=row.reason)
    stored: list[StoredEventRef] = []
    outcomes: list[collector.Outcome] = []
    refused: list[tuple[int, Any]] = []
    for n, text in enumerate(texts):
        result, refusals = collector.replay_one(session, settings, source, text,
                                                received_at=row.received_at)
        stored += result.stored
        outcomes += result.outcomes
        refused += [(n, r) for r in refusals]
    if refused:
        # an erased person's event: dropped, and the payload (which names them) not kept
        dropped = [(n, r) for n, r in refused if r.status != "open"]
        n, refusal = (dropped or refused)[0]
        where = f"event {n + 1} of {len(texts)}: " if len(texts) > 1 else ""
        row.code, row.reason = refusal.code, where + refusal.reason
        if refusal.message_id and len(texts) == 1:
            row.message_id = refusal.message_id
        if dropped:
            row.status, row.payload = refusal.status, ""
        session.flush()
        return Replayed(row.id, row.status, code=row.code, reason=row.reason,
                        stored=tuple(stored))
    outcome = outcomes[0]
    event_id = outcome.event_id
    if event_id is None:  # already stored: point at that event
        event_id = session.scalar(select(HubEvent.id).where(
            HubEvent.source_id == source.id, HubEvent.message_id == outcome.message_id))
    row.status, row.replayed_event_id = "replayed", event_id
    if outcome.message_id:
        row.message_id = outcome.message_id
    session.flush()
    return Replayed(row.id, "replayed", event_id=event_id, stored=tuple(stored))


def open_ids(session: Session, filters: Filters, limit: int | None = None) -> list[int]:
    """Open dead letters matching the filters, oldest first (the order they are replayed)."""
    stmt = (select(DeadLetter.id).where(DeadLetter.status == "open", *Filters(
        filters.source_id, filters.code, None).where()).order_by(DeadLetter.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))
