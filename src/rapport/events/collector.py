"""The collector's core: every raw message ends as one stored event, a duplicate, or one dead
letter with its original payload and a reason.

``ingest`` is the hot path (HTTP, MQTT bridge, file imports, replay): per call it does one
multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` for the events (so a duplicate
``messageId``, even one a concurrent request is inserting right now, is a no-op rather than an
error), one read and one upsert of derived sessions when any event needs one, and one insert
of dead letters when any message is refused. The caller commits, then publishes
``result.stored`` on the event bus. Rules and reasons: docs/collector.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Table, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.crm.normalise import normalise_email, normalise_phone
from rapport.db.base import utcnow
from rapport.events.envelope import Arrival, Envelope, Refused, dump, fast_keyed_hash, normalise
from rapport.events.hub_bus import StoredEventRef
from rapport.events.hub_models import DeadLetter, DuplicateCount, EventSession, HubEvent, Source
from rapport.events.partitioning import customer_key, partition_key, partition_of
from rapport.trust import audit, suppression

EVENTS = cast(Table, HubEvent.__table__)
DEAD_LETTERS = cast(Table, DeadLetter.__table__)
SESSIONS = cast(Table, EventSession.__table__)
DUPLICATES = cast(Table, DuplicateCount.__table__)
SUPPRESSED_CODE = "suppressed"
SUPPRESSED_REASON = ("this person asked to be erased: the event was dropped and its payload "
                     "not kept")
# The lead adds "event_suppressed" to the audit actions; until then the drop is recorded
# under the erasure it enforces.
SUPPRESSED_ACTION = "event_suppressed"
_WRITE_KEY_TEXT = re.compile(r'("writeKey"\s*:\s*)"(?:[^"\\]|\\.)*"')
FRESHNESS = timedelta(seconds=30)  # sources.last_event_at is moved at most this often


def _json_default(value: Any) -> Any:
    """Decimals (from file imports and bridges) as strings, as the engine stores them."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


class SourceLike(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def channel(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: ``accepted`` (event_id), ``duplicate`` (no-op), or
    ``dead_letter`` (code, reason, dead_letter_id)."""

    index: int
    status: str
    message_id: str | None = None
    event_id: int | None = None
    code: str | None = None
    reason: str | None = None
    dead_letter_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("index", self.index), ("status", self.status), ("messageId", self.message_id),
            ("event_id", self.event_id), ("code", self.code), ("reason", self.reason),
            ("dead_letter_id", self.dead_letter_id)) if v is not None}


@dataclass
class IngestResult:
    outcomes: list[Outcome] = field(default_factory=list)
    stored: list[StoredEventRef] = field(default_factory=list)  # publish these after commit

    def _count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def accepted(self) -> int:
        return self._count("accepted")

    @property
    def duplicates(self) -> int:
        return self._count("duplicate")

    @property
    def dead_lettered(self) -> int:
        return self._count("dead_letter")

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "dead_letter"]

    def summary(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "dead_lettered": self.dead_lettered}


class _LazyText:
    """The dead-letter text of a message, made only if it is refused (the hot path skips it)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes | str) -> None:
        self.raw = raw

    def __str__(self) -> str:
        return payload_text(self.raw)


@dataclass(slots=True)
class _Refusal:
    index: int
    code: str
    reason: str
    payload: str | _LazyText
    message_id: str | None = None
    status: str = "open"


def payload_text(raw: bytes | str) -> str:
    """Original bytes as storable text: invalid UTF-8 as ``\\xNN``, NUL as ``\\x00`` (neither
    database stores a NUL), and a ``writeKey`` in the text blanked (a credential)."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if "writeKey" in text:
        text = _WRITE_KEY_TEXT.sub(r'\1"[removed]"', text)
    return text


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in str(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _insert_ignoring_duplicates(session: Session) -> Any:
    dialect = _dialect(session)
    if dialect == "postgresql":
        return postgresql.insert(EVENTS).on_conflict_do_nothing(
            index_elements=["source_id", "message_id"])
    if dialect == "sqlite":
        return sqlite.insert(EVENTS).on_conflict_do_nothing(
            index_elements=["source_id", "message_id"])
    raise NotImplementedError(f"the collector supports SQLite and PostgreSQL, not {dialect}")


def _upsert_sessions(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = _dialect(session)
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(SESSIONS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"session_id": stmt.excluded.session_id, "last_at": stmt.excluded.last_at})
    if dialect == "postgresql":  # one JSON document: see _insert_json
        session.execute(text(
            "INSERT INTO event_sessions (key, session_id, last_at) "
            "SELECT key, session_id, last_at FROM json_populate_recordset("
            "CAST(NULL AS event_sessions), CAST(:rows AS json)) "
            "ON CONFLICT (key) DO UPDATE SET session_id = excluded.session_id, "
            "last_at = excluded.last_at"), {"rows": orjson.dumps(rows).decode()})
        return
    session.execute(stmt, rows)


def _new_session_id() -> str:
    return "s_" + os.urandom(12).hex()


def _session_key(secret: str, env: Envelope) -> str:
    """A keyed hash of the customer key (the table never holds a clear user id)."""
    return fast_keyed_hash(secret, "session", customer_key(env.user_id, env.anonymous_id))


def _derive_sessions(session: Session, settings: Settings, envelopes: list[Envelope]) -> None:
    """Give events without ``context.session.id`` the user's current session, or a new one
    after ``session_gap_minutes`` of quiet (kept in ``event_sessions``)."""
    pending = [e for e in envelopes if e.session_id is None]
    if not pending:
        return
    gap = timedelta(minutes=settings.session_gap_minutes)
    keyed = sorted(((_session_key(settings.secret_key, e), e) for e in pending),
                   key=lambda pair: (pair[0], pair[1].timestamp))
    keys = sorted({k for k, _ in keyed})
    current: dict[str, tuple[str, datetime]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        for row in session.execute(select(SESSIONS.c.key, SESSIONS.c.session_id, SESSIONS.c.last_at)
                                   .where(SESSIONS.c.key.in_(chunk))):
            current[row.key] = (row.session_id, row.last_at)
    changed: dict[str, tuple[str, datetime]] = {}
    for key, env in keyed:
        known = current.get(key)
        at = env.timestamp
        if known is not None and known[1] - gap <= at <= known[1] + gap:
            session_id, last = known[0], max(known[1], at)
        elif known is not None and at < known[1] - gap:
            # a late event from an earlier visit: a session of its own, the current one stays
            env.session_id = _new_session_id()
            env.context["session"] = {"id": env.session_id}
            continue
        else:
            session_id, last = _new_session_id(), at
        current[key] = changed[key] = (session_id, last)
        env.session_id = session_id
        env.context["session"] = {"id": session_id}
    if changed:
        _upsert_sessions(session, [{"key": k, "session_id": s, "last_at": t}
                                   for k, (s, t) in sorted(changed.items())])


def _suppressed(session: Session, settings: Settings, env: Envelope) -> bool:
    """Does the event name an erased person (e-mail, phone, or a userId that was their
    external id)? Only hashes anything when the ledger holds keys."""
    values: dict[str, str] = {}
    for bag in (env.traits, env.context.get("traits"), env.properties):
        if not isinstance(bag, dict):
            continue
        email, phone = bag.get("email"), bag.get("phone")
        if isinstance(email, str) and email.strip() and "email" not in values:
            try:
                values["email"] = normalise_email(email)
            except ValueError:
                values["email"] = email.strip()
        if isinstance(phone, str | int) and str(phone).strip() and "phone" not in values:
            try:
                values["phone"] = normalise_phone(str(phone), settings.default_phone_region)
            except ValueError:
                values["phone"] = str(phone).strip()
    if env.user_id:
        values["external_id"] = env.user_id
    if not values:
        return False
    secret = settings.secret_key
    return bool(suppression.is_suppressed(session, secret, "contacts", values)
                or suppression.is_suppressed(session, secret, "leads", values))


def _ledger_empty(session: Session) -> bool:
    return not suppression._ledger(session)


def _known(session: Session, source_id: int, message_ids: list[str]) -> set[str]:
    """Message ids of this source already stored (one query per 1,000 ids)."""
    known: set[str] = set()
    if _dialect(session) == "postgresql":  # one JSON parameter, not one per id
        known.update(session.scalars(text(
            "SELECT message_id FROM events WHERE source_id = :source AND message_id IN "
            "(SELECT json_array_elements_text(CAST(:ids AS json)))"),
            {"source": source_id, "ids": orjson.dumps(message_ids).decode()}))
        return known
    for start in range(0, len(message_ids), 1000):
        chunk = message_ids[start:start + 1000]
        known.update(session.scalars(select(EVENTS.c.message_id).where(
            EVENTS.c.source_id == source_id, EVENTS.c.message_id.in_(chunk))))
    return known


def _allocate_ids(session: Session, first_row: dict[str, Any], count: int) -> tuple[list[int], bool] | None:
    """Ids for ``count`` rows: PostgreSQL from the sequence; SQLite by inserting the first row
    (which takes the write lock, so the ids after it stay free until commit). Returns the
    ids and whether the first row is already inserted; None if that row turned out to be a
    duplicate (a concurrent request stored it meanwhile)."""
    if _dialect(session) == "postgresql":
        return sorted(session.scalars(
            select(func.nextval(func.pg_get_serial_sequence("events", "id")))
            .select_from(func.generate_series(1, count)))), False
    first = session.execute(_insert_ignoring_duplicates(session).returning(EVENTS.c.id),
                            first_row).scalar()
    return (list(range(int(first), int(first) + count)), True) if first is not None else None


def _insert_events(session: Session, source_id: int, rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Insert new events; ``{message_id: (id, partition)}`` of those this call stored.

    Fast path: drop the ids already stored (one query), give the rest explicit ids and send
    one plain ``executemany`` of ``INSERT … ON CONFLICT DO NOTHING`` (no per-row RETURNING).
    If the row count shows a concurrent request stored some of them meanwhile, one more
    query finds which ids made it in.
    """
    known = _known(session, source_id, [r["message_id"] for r in rows])
    fresh = [r for r in rows if r["message_id"] not in known]
    if not fresh:
        return {}
    allocated = _allocate_ids(session, fresh[0], len(fresh))
    if allocated is None:  # the first one raced in: take the slow, exact path
        return _insert_returning(session, fresh[1:])
    ids, first_done = allocated
    for rid, row in zip(ids, fresh, strict=True):
        row["id"] = rid
    todo = fresh[1:] if first_done else fresh
    written = len(fresh) - len(todo)
    if todo:
        if _dialect(session) == "postgresql":
            written += _insert_json(session, todo)
        else:
            outcome = session.execute(_insert_ignoring_duplicates(session), todo)
            written += int(outcome.rowcount or 0)  # type: ignore[attr-defined]
    pairs = list(zip(ids, fresh, strict=True))
    if written != len(fresh):
        present: set[int] = set()
        for start in range(0, len(ids), 1000):
            present.update(session.scalars(select(EVENTS.c.id).where(
                EVENTS.c.id.in_(ids[start:start + 1000]))))
        pairs = [(rid, row) for rid, row in pairs if rid in present]
    return {row["message_id"]: (rid, row["partition"]) for rid, row in pairs}


_PG_COLUMNS = ("id", "source_id", "message_id", "type", "name", "user_id", "anonymous_id",
               "timestamp", "sent_at", "received_at", "skew_ms", "channel", "fingerprint",
               "fingerprint_derived", "session_id", "session_derived", "properties", "traits",
               "context", "partition")
_PG_INSERT = text(
    "INSERT INTO events ({cols}) SELECT {cols} FROM json_populate_recordset("  # noqa: S608
    "CAST(NULL AS events), CAST(:rows AS json)) "
    "ON CONFLICT (source_id, message_id) DO NOTHING".format(
        cols=", ".join(f'"{c}"' for c in _PG_COLUMNS)))


def _insert_json(session: Session, rows: list[dict[str, Any]]) -> int:
    """PostgreSQL: all rows in one statement as one JSON document the server unpacks
    (psycopg's pipelined ``executemany`` still runs one INSERT per row on the server, and
    its pure-Python array adaptation costs more than the insert)."""
    document = orjson.dumps(rows, default=_json_default).decode()
    return int(session.execute(_PG_INSERT, {"rows": document}).rowcount or 0)  # type: ignore[attr-defined]


def _insert_returning(session: Session, rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    inserted: dict[str, tuple[int, int]] = {}
    for start in range(0, len(rows), 1000):
        stmt = _insert_ignoring_duplicates(session).returning(
            EVENTS.c.id, EVENTS.c.message_id, EVENTS.c.partition)
        for row in session.execute(stmt, rows[start:start + 1000]):
            inserted[row.message_id] = (row.id, row.partition)
    return inserted


def _row(source_id: int, env: Envelope, received_at: datetime, partitions: int) -> dict[str, Any]:
    return {
        "source_id": source_id, "message_id": env.message_id, "type": env.type,
        "name": env.name, "user_id": env.user_id, "anonymous_id": env.anonymous_id,
        "timestamp": env.timestamp, "sent_at": env.sent_at, "received_at": received_at,
        "skew_ms": env.skew_ms, "channel": env.channel, "fingerprint": env.fingerprint,
        "fingerprint_derived": env.fingerprint_derived, "session_id": env.session_id,
        "session_derived": env.session_derived, "properties": env.properties,
        "traits": env.traits, "context": env.context,
        "partition": partition_of(partition_key(env.user_id, env.anonymous_id), partitions),
    }


def ingest(
    session: Session,
    settings: Settings,
    source: SourceLike,
    items: Sequence[Any],
    *,
    received_at: datetime | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
    call: str | None = None,
    originals: Sequence[str | None] | None = None,
) -> IngestResult:
    """Store what is valid, dead-letter what is not, in the caller's transaction.

    ``items`` are parsed messages, or ``bytes`` (parsed here; unparseable bytes are a
    ``malformed_json`` dead letter holding the text). ``call`` is the endpoint's type for
    single-call endpoints (None: each item says its ``type``). ``originals`` optionally gives
    the exact text each item arrived as (kept in its dead letter instead of a re-dump).
    """
    result, refusals = _process(session, settings, source, items, received_at=received_at,
                                client_ip=client_ip, user_agent=user_agent, call=call,
                                originals=originals)
    _write_dead_letters(session, settings.secret_key, source.id, received_at or utcnow(),
                        refusals, result)
    return result


def replay_one(session: Session, settings: Settings, source: SourceLike, payload: str, *,
               received_at: datetime) -> tuple[IngestResult, list[_Refusal]]:
    """One dead letter's payload through the collector; refusals are returned, not written
    (the caller updates that dead letter instead of adding another)."""
    return _process(session, settings, source, [payload.encode()], received_at=received_at,
                    client_ip=None, user_agent=None, call=None, originals=None)


def _process(
    session: Session,
    settings: Settings,
    source: SourceLike,
    items: Sequence[Any],
    *,
    received_at: datetime | None,
    client_ip: str | None,
    user_agent: str | None,
    call: str | None,
    originals: Sequence[str | None] | None,
) -> tuple[IngestResult, list[_Refusal]]:
    received = received_at or utcnow()
    arrival = Arrival(source_id=source.id, channel=source.channel, received_at=received,
                      client_ip=client_ip, user_agent=user_agent, secret=settings.secret_key)
    limit = settings.event_max_bytes
    outcomes: dict[int, Outcome] = {}
    refusals: list[_Refusal] = []
    accepted: list[tuple[int, Envelope]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        original = originals[index] if originals is not None else None
        if isinstance(item, bytes | bytearray | memoryview):
            raw_bytes = bytes(item)
            try:
                item = orjson.loads(raw_bytes)
            except orjson.JSONDecodeError as exc:
                refusals.append(_Refusal(index, "malformed_json", f"not valid JSON: {exc}",
                                         payload_text(raw_bytes)))
                continue
            original = original or raw_bytes.decode("utf-8", "replace")
        if isinstance(item, dict) and "writeKey" in item:
            item = {k: v for k, v in item.items() if k != "writeKey"}
            original = None
        if call is not None and isinstance(item, dict) and item.get("type") != call:
            # kept with its call's type, so a dead letter replays on its own
            item = {**item, "type": call}
            original = None
        try:
            dumped = orjson.dumps(item, default=_json_default)
        except TypeError:  # e.g. an integer beyond 64 bits (from a bridge, not from JSON)
            refusals.append(_Refusal(index, "invalid_field", "a value cannot be stored as JSON "
                                     "(integers beyond 64 bits must be sent as strings)",
                                     payload_text(original or dump(item)), _message_id_of(item)))
            continue
        text = _LazyText(original if original is not None else dumped)
        if len(dumped) > limit:
            refusals.append(_Refusal(index, "too_large", f"the event has {len(dumped)} bytes; "
                                     f"events are limited to {limit} bytes", text,
                                     _message_id_of(item)))
            continue
        if b"\\u0000" in dumped and _has_nul(item):
            refusals.append(_Refusal(index, "nul_character", "NUL (\\u0000) characters are not "
                                     "allowed in text; remove them", text, _message_id_of(item)))
            continue
        try:
            env = normalise(item, arrival, call=call)
        except Refused as refused:
            refusals.append(_Refusal(index, refused.code, refused.reason, text,
                                     _message_id_of(item)))
            continue
        if env.message_id in seen:
            outcomes[index] = Outcome(index, "duplicate", env.message_id)
            continue
        seen[env.message_id] = index
        accepted.append((index, env))

    if accepted and not _ledger_empty(session):
        kept: list[tuple[int, Envelope]] = []
        for index, env in accepted:
            if _suppressed(session, settings, env):
                refusals.append(_Refusal(index, SUPPRESSED_CODE, SUPPRESSED_REASON, "",
                                         env.message_id, status="discarded"))
            else:
                kept.append((index, env))
        accepted = kept

    stored: list[StoredEventRef] = []
    if accepted:
        envelopes = [env for _, env in accepted]
        _derive_sessions(session, settings, envelopes)
        rows = [_row(source.id, env, received, settings.hub_partitions) for env in envelopes]
        inserted = _insert_events(session, source.id, rows)
        for index, env in accepted:
            hit = inserted.get(env.message_id)
            if hit is None:  # already stored (earlier, or by a concurrent request)
                outcomes[index] = Outcome(index, "duplicate", env.message_id)
            else:
                outcomes[index] = Outcome(index, "accepted", env.message_id, event_id=hit[0])
                stored.append(StoredEventRef(hit[0], hit[1]))
        if inserted:
            session.execute(
                update(Source).where(Source.id == source.id, or_(
                    Source.last_event_at.is_(None), Source.last_event_at < received - FRESHNESS))
                .values(last_event_at=received))
    result = IngestResult(outcomes=[outcomes[i] for i in sorted(outcomes)], stored=stored)
    if result.duplicates:
        _count_duplicates(session, source.id, received, result.duplicates)
    return result, refusals


def _count_duplicates(session: Session, source_id: int, received: datetime, count: int) -> None:
    """Add to the source's duplicate count of the hour (the data-health duplicate rate)."""
    hour = received.replace(minute=0, second=0, microsecond=0)
    module: Any = postgresql if _dialect(session) == "postgresql" else sqlite
    stmt = module.insert(DUPLICATES).values(source_id=source_id, hour=hour, count=count)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["source_id", "hour"], set_={"count": DUPLICATES.c.count + count}))


def _message_id_of(item: Any) -> str | None:
    if isinstance(item, dict):
        value = item.get("messageId")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)[:200] or None
    return None


def _write_dead_letters(session: Session, secret: str, source_id: int | None, received_at: datetime,
                        refusals: list[_Refusal], result: IngestResult) -> None:
    if not refusals:
        return
    now = utcnow()
    rows = [{"source_id": source_id, "received_at": received_at, "code": r.code,
             "reason": r.reason, "payload": str(r.payload), "message_id": r.message_id,
             "status": r.status, "attempts": 0, "updated_at": now} for r in refusals]
    ids = list(session.execute(insert(DEAD_LETTERS).returning(DEAD_LETTERS.c.id,
                                                              sort_by_parameter_order=True),
                               rows).scalars())
    suppressed = sum(1 for r in refusals if r.code == SUPPRESSED_CODE)
    if suppressed:
        audit.append(session, secret, SUPPRESSED_ACTION, actor="system",
                     target=f"sources:{source_id}",
                     details={"dropped_events": suppressed, "reason": "suppressed",
                              "dead_letters": [i for i, r in zip(ids, refusals, strict=True)
                                               if r.code == SUPPRESSED_CODE][:50]})
    merged = {o.index: o for o in result.outcomes}
    for dead_id, refusal in zip(ids, refusals, strict=True):
        merged[refusal.index] = Outcome(refusal.index, "dead_letter", refusal.message_id,
                                        code=refusal.code, reason=refusal.reason,
                                        dead_letter_id=dead_id)
    result.outcomes = [merged[i] for i in sorted(merged)]



def dead_letter(session: Session, source_id: int | None, code: str, reason: str,
                payload: bytes | str, *, received_at: datetime | None = None,
                message_id: str | None = None) -> int:
    """Keep one message that could not even be split into events (a body that is not JSON,
    a batch without its list, a file row a bridge could not read); returns its id."""
    now = utcnow()
    return int(session.execute(insert(DEAD_LETTERS).returning(DEAD_LETTERS.c.id), {
        "source_id": source_id, "received_at": received_at or now, "code": code,
        "reason": reason, "payload": payload_text(payload), "message_id": message_id,
        "status": "open", "attempts": 0, "updated_at": now}).scalar_one())
