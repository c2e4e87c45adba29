"""The append-only, hash-chained audit log.

Each entry's hash is HMAC-SHA256 (keyed with the deployment secret) over the previous
entry's hash and the entry's own canonical content, id included. Editing a row breaks its
hash, deleting one breaks the next row's link, reordering breaks both, and a signed head
row names the newest entry so cutting off the tail is noticed too.

Appends are serialised: PostgreSQL takes a transaction-scoped advisory lock; SQLite has a
single writer and the insert comes first, so the write lock is held before the head is read.
A new entry links to the entry the signed head names (not to whatever row is last), so a
truncated tail stays visible after later appends instead of being healed by them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import orjson
from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from rapport.db.base import utcnow
from rapport.errors import FieldError, ValidationFailed
from rapport.trust.models import AuditEntry, AuditHead

GENESIS = "0" * 64
# prev_hash of an entry appended while the head was missing or failed its signature: the
# chain is visibly broken there, whatever the rows before it look like.
UNTRUSTED_HEAD = "untrusted-head"
_ADVISORY_LOCK = 7_261_001  # any constant shared by every writer of the chain
_MAX_LENGTHS = {"actor": 40, "target": 100, "network": 20}
MAX_PROBLEMS = 1000  # problems kept in a report (all are counted and passed to on_problem)

# The actions the log records (free text is refused so filters and reports stay reliable).
ACTIONS = frozenset({
    "login", "login_failed", "logout", "lockout", "address_throttled", "totp_enabled",
    "totp_disabled",
    "token_created", "token_revoked", "session_revoked",
    "reveal", "export", "bulk_export",
    "role_created", "role_changed", "role_deleted", "user_roles_changed", "user_changed",
    "config_changed", "consent_changed", "dsr_created", "dsr_access", "dsr_erasure",
    "dsr_rejected",
    "consent_ignored",
    "merge", "unmerge", "anomaly_lock", "unlock", "private_query", "budget_changed",
    "alert_resolved",
    "event_suppressed",
})


def actor_ref(user_id: int | None) -> str:
    """Users are named by id (itself a pseudonym for the person), the system by name."""
    return f"user:{user_id}" if user_id is not None else "system"


class _EntryLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def target(self) -> str | None: ...
    @property
    def network(self) -> str | None: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit entry as read back from the database (detached from any session)."""

    id: int
    at: datetime
    action: str
    actor: str
    target: str | None
    network: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


# ---- canonical form -------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # as the engine's JSON serialiser stores it
    raise TypeError(f"cannot store {type(value).__name__} in an audit entry")


def _clean(value: Any) -> Any:
    """Details as the databases give them back, so the hash recomputes exactly.

    PostgreSQL rejects NUL in JSONB text, and JSONB turns ``1e16`` into ``10000000000000000``
    and ``-0.0`` into ``0.0``: integral floats become ints, NUL becomes U+FFFD.
    """
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def normalise_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """JSON-safe details (tuples → lists, Decimal → str, datetimes → ISO text), cleaned."""
    if not details:
        return {}
    plain = orjson.loads(orjson.dumps(details, default=_json_default,
                                      option=orjson.OPT_NON_STR_KEYS))
    cleaned: dict[str, Any] = _clean(plain)
    return cleaned


def _canonical(entry: _EntryLike) -> bytes:
    body = {
        "id": entry.id,
        "at": entry.at.isoformat(timespec="microseconds"),
        "action": entry.action,
        "actor": entry.actor,
        "target": entry.target,
        "network": entry.network,
        "details": _clean(entry.details or {}),
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_hash(secret: str, prev_hash: str, entry: _EntryLike) -> str:
    return hmac.new(secret.encode(), prev_hash.encode() + b"\n" + _canonical(entry),
                    hashlib.sha256).hexdigest()


def _head_signature(secret: str, last_id: int, last_hash: str) -> str:
    return hmac.new(secret.encode(), f"head\x00{last_id}\x00{last_hash}".encode(),
                    hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Head:
    last_id: int
    last_hash: str
    signature: str


def _read_head(session: Session) -> _Head | None:
    """Columns, not an ORM object: a head cached in the session's identity map may be stale."""
    row = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash, AuditHead.signature)
        .where(AuditHead.id == 1)
    ).one_or_none()
    if row is None:
        return None
    try:
        last_id = int(row.last_id)
    except (TypeError, ValueError):  # SQLite stores whatever it is given
        last_id = -1
    return _Head(last_id, str(row.last_hash), str(row.signature))


def _head_valid(secret: str, head: _Head) -> bool:
    expected = _head_signature(secret, head.last_id, head.last_hash)
    return hmac.compare_digest(expected.encode(), head.signature.encode())


# ---- writing --------------------------------------------------------------------------------


def _short(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")
    if len(value) > _MAX_LENGTHS[name]:
        raise ValueError(f"audit {name} is longer than {_MAX_LENGTHS[name]} characters")
    return value


def append(
    session: Session,
    secret: str,
    action: str,
    *,
    actor: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    network: str | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction (it commits or rolls back with the work).

    On PostgreSQL the chain lock is held until that transaction ends: audit late in a
    transaction and commit soon after, or every other audited write waits.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    actor_text = _short("actor", actor) or "system"
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
    # Python datetimes have microsecond precision, as both databases store them: the
    # value read back is the value hashed.
    entry = AuditEntry(at=utcnow(), action=action, actor=actor_text,
                       target=_short("target", target), network=_short("network", network),
                       details=normalise_details(details), prev_hash=GENESIS,
                       hash="pending-" + secrets.token_hex(16))
    session.add(entry)
    session.flush()  # the id, and on SQLite the write lock (held until commit)
    head = _read_head(session)
    if head is not None and _head_valid(secret, head):
        entry.prev_hash = head.last_hash
    elif head is None and session.scalar(
        select(AuditEntry.id).where(AuditEntry.id != entry.id).limit(1)
    ) is None:
        entry.prev_hash = GENESIS  # the very first entry
    else:
        entry.prev_hash = UNTRUSTED_HEAD  # someone removed or forged the head: keep it visible
    entry.hash = entry_hash(secret, entry.prev_hash, entry)
    signature = _head_signature(secret, entry.id, entry.hash)
    if head is None:
        session.execute(insert(AuditHead).values(
            id=1, last_id=entry.id, last_hash=entry.hash, signature=signature))
    else:
        session.execute(
            update(AuditHead).where(AuditHead.id == 1)
            .values(last_id=entry.id, last_hash=entry.hash, signature=signature)
            .execution_options(synchronize_session=False))
    session.flush()
    return entry


# ---- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """Filters shared by the list, the export and the CLI; ``until`` is exclusive."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    upto_id: int | None = None  # pins an export to the entries that existed when it began

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.upto_id is not None:
            where.append(AuditEntry.id <= self.upto_id)
        if self.action:
            where.append(AuditEntry.action == self.action)
        if self.actor:
            where.append(AuditEntry.actor == self.actor)
        if self.target:
            where.append(AuditEntry.target == self.target)
        if self.since is not None:
            where.append(AuditEntry.at >= self.since)
        if self.until is not None:
            where.append(AuditEntry.at < self.until)
        return where

    def as_details(self) -> dict[str, str]:
        """The filters as audit details (what an export covered)."""
        out = {k: v for k, v in (("action", self.action), ("actor", self.actor),
                                 ("target", self.target)) if v}
        if self.since is not None:
            out["since"] = self.since.isoformat()
        if self.until is not None:
            out["until"] = self.until.isoformat()
        return out


_COLUMNS = (AuditEntry.id, AuditEntry.at, AuditEntry.action, AuditEntry.actor,
            AuditEntry.target, AuditEntry.network, AuditEntry.details, AuditEntry.prev_hash,
            AuditEntry.hash)
# SQLite keeps whatever text is written: read ``at`` and ``details`` raw and parse them here,
# so a row filled with garbage is reported by verify instead of crashing it.
_SQLITE_COLUMNS = (AuditEntry.id, type_coerce(AuditEntry.at, String()).label("at"),
                   AuditEntry.action, AuditEntry.actor, AuditEntry.target, AuditEntry.network,
                   type_coerce(AuditEntry.details, Text()).label("details"),
                   AuditEntry.prev_hash, AuditEntry.hash)
_UNREADABLE_AT = datetime(1, 1, 1, tzinfo=UTC)


def _columns(session: Session) -> tuple[Any, ...]:
    return _SQLITE_COLUMNS if session.get_bind().dialect.name == "sqlite" else _COLUMNS


def _at(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return _UNREADABLE_AT
    if not isinstance(value, datetime):
        return _UNREADABLE_AT
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _details(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return {"unreadable": str(value)[:200]}
    return value if value is not None else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _entry(row: Any) -> Entry:
    return Entry(int(row.id), _at(row.at), str(row.action), str(row.actor), _text(row.target),
                 _text(row.network), _details(row.details), str(row.prev_hash), str(row.hash))


def iter_entries(
    session: Session, batch: int = 2000, *, filters: AuditFilter | None = None
) -> Iterator[Entry]:
    """Entries in chain order (by id), a batch at a time: memory stays flat.

    Plain column reads: nothing lands in the session's identity map, so a long walk neither
    grows the session nor sees a stale in-memory copy of an edited row.
    """
    where = filters.clauses() if filters else []
    last = 0
    while True:
        rows = session.execute(
            select(*_columns(session)).where(AuditEntry.id > last, *where)
            .order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        last = rows[-1].id


def list_entries(
    session: Session, filters: AuditFilter, *, before_id: int | None = None, limit: int = 50
) -> tuple[list[Entry], int | None]:
    """One page, newest first (keyset on id); returns the entries and the next cursor."""
    stmt = select(*_columns(session)).where(*filters.clauses())
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    rows = session.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
    entries = [_entry(r) for r in rows[:limit]]
    next_cursor = entries[-1].id if len(rows) > limit else None
    return entries, next_cursor


def count_entries(session: Session, filters: AuditFilter | None = None) -> int:
    """Entries in the log, or those matching ``filters`` (for a progress bar, an export)."""
    where = filters.clauses() if filters else []
    return int(session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0)


def parse_time(value: str, name: str) -> datetime:
    """An ISO 8601 time with an offset, or a bare date (midnight UTC); anything else is refused.

    A time without an offset is ambiguous (whose midnight?), so it is not guessed.
    """
    text_value = value.strip()
    try:
        if len(text_value) == 10:
            return datetime.fromisoformat(text_value).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text_value)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be an ISO 8601 time such as 2026-01-31T09:00:00Z or a date such as "
            "2026-01-31", errors=[FieldError(name, "not an ISO 8601 time or date")]) from None
    if moment.tzinfo is None:
        raise ValidationFailed(
            f"{name} needs a UTC offset, e.g. {text_value}Z or {text_value}+08:00",
            errors=[FieldError(name, "time without a UTC offset")])
    return moment.astimezone(UTC)


def check_action(action: str | None) -> str | None:
    """An action filter must name a known action (a typo would silently match nothing)."""
    if action and action not in ACTIONS:
        raise ValidationFailed(
            f"Unknown audit action '{action}'. Actions: {', '.join(sorted(ACTIONS))}",
            errors=[FieldError("action", "unknown action")])
    return action or None


# ---- export ---------------------------------------------------------------------------------


def begin_export(
    session: Session,
    secret: str,
    filters: AuditFilter,
    *,
    actor: str,
    network: str | None = None,
    via: str,
) -> tuple[AuditFilter, int]:
    """Pin an export to the entries that exist now, count them and audit it (fail closed).

    The caller commits, then streams ``export_lines(session, pinned)``: no line leaves before
    the export itself is on record, and the count recorded is the count streamed.
    """
    upto = int(session.scalar(select(func.max(AuditEntry.id))) or 0)
    pinned = replace(filters, upto_id=upto)
    count = count_entries(session, pinned)
    append(session, secret, "export", actor=actor, network=network, details={
        "object": "audit_log", "count": count, "filters": filters.as_details(), "via": via,
    })
    return pinned, count


def export_lines(session: Session, filters: AuditFilter, batch: int = 1000) -> Iterator[bytes]:
    """JSON lines (one entry per line, oldest first), in chunks of ``batch`` entries."""
    chunk: list[bytes] = []
    for entry in iter_entries(session, batch, filters=filters):
        chunk.append(orjson.dumps(entry_json(entry)))
        if len(chunk) >= batch:
            yield b"\n".join(chunk) + b"\n"
            chunk = []
    if chunk:
        yield b"\n".join(chunk) + b"\n"


# ---- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing verification found; ``entry_id`` is None for the head."""

    entry_id: int | None
    kind: str  # link | content | head_missing | head_signature | truncated
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "kind": self.kind, "message": self.message}


@dataclass
class VerifyReport:
    checked: int = 0
    issues: list[Problem] = field(default_factory=list)
    problem_count: int = 0  # every problem found; ``issues`` keeps the first MAX_PROBLEMS
    last_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def problems(self) -> list[str]:
        return [p.message for p in self.issues]

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "checked": self.checked, "last_id": self.last_id,
            "problem_count": self.problem_count,
            "problems": [p.as_json() for p in self.issues],
            "truncated": self.problem_count > len(self.issues),
        }


def verify(
    session: Session,
    secret: str,
    *,
    on_entry: Callable[[int], None] | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    max_problems: int = MAX_PROBLEMS,
) -> VerifyReport:
    """Walk the whole chain; every edited, deleted, reordered or truncated entry is reported.

    The head is read first, so entries appended while the walk runs are not taken for
    forgeries: the walk must reach the entry the head named, with the hash it named.
    ``on_entry`` gets the running count (progress); ``on_problem`` every problem as found.
    """
    report = VerifyReport()

    def found(entry_id: int | None, kind: str, message: str) -> None:
        problem = Problem(entry_id, kind, message)
        report.problem_count += 1
        if len(report.issues) < max_problems:
            report.issues.append(problem)
        if on_problem is not None:
            on_problem(problem)

    head = _read_head(session)
    head_ok = head is not None and _head_valid(secret, head)
    head_seen = False
    previous_hash = GENESIS
    previous_id = 0
    for entry in iter_entries(session):
        report.checked += 1
        if entry.prev_hash != previous_hash:
            if entry.prev_hash == UNTRUSTED_HEAD:
                found(entry.id, "link", f"entry {entry.id}: appended while the signed head was "
                      "missing or forged (the log was tampered with before it)")
            elif previous_id == 0:
                found(entry.id, "link", f"entry {entry.id}: the first entry does not start the "
                      "chain (entries before it were deleted)")
            else:
                found(entry.id, "link", f"entry {entry.id}: does not follow entry {previous_id} "
                      "(an entry between them was deleted or inserted, or rows were reordered)")
        if not hmac.compare_digest(entry_hash(secret, entry.prev_hash, entry).encode(),
                                   entry.hash.encode()):
            found(entry.id, "content",
                  f"entry {entry.id}: content does not match its hash (edited or forged)")
        if head is not None and entry.id == head.last_id:
            head_seen = True
            if head_ok and entry.hash != head.last_hash:
                found(entry.id, "truncated", f"entry {entry.id}: is not the entry the signed "
                      "head names (it was replaced)")
        previous_hash, previous_id = entry.hash, entry.id
        if on_entry is not None:
            on_entry(report.checked)
    report.last_id = previous_id or None
    if head is None:
        if report.checked:
            found(None, "head_missing", "the signed head is missing (the log was tampered with)")
    elif not head_ok:
        found(None, "head_signature", "the signed head does not match its signature (edited)")
    elif not head_seen and previous_id < head.last_id:
        found(None, "truncated",
              f"the log ends at entry {previous_id} but the signed head names entry "
              f"{head.last_id} (entries at the end were deleted)")
    elif not head_seen:
        found(head.last_id, "truncated",
              f"entry {head.last_id}, which the signed head names, is missing (deleted)")
    return report


def entry_json(entry: _EntryLike) -> dict[str, Any]:
    """An entry as a SIEM reads it: one JSON object, hashes included for re-verification."""
    return {
        "id": entry.id, "at": entry.at.isoformat(timespec="microseconds"),
        "action": entry.action, "actor": entry.actor, "target": entry.target,
        "network": entry.network, "details": entry.details or {},
        "prev_hash": entry.prev_hash, "hash": entry.hash,
    }
