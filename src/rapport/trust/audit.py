"""The append-only, hash-chained audit log.

Each entry's hash is HMAC-SHA256 (keyed with the deployment secret) over the previous
entry's hash and the entry's own canonical content, id included. Editing a row breaks its
hash, deleting one breaks the next row's link, reordering breaks both, and a signed head
row names the newest entry so cutting off the tail is noticed too.

Appends are serialised: PostgreSQL takes a transaction-scoped advisory lock; SQLite has a
single writer and the insert comes first, so the write lock is held before the head is read.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rapport.db.base import utcnow
from rapport.trust.models import AuditEntry, AuditHead

GENESIS = "0" * 64
_ADVISORY_LOCK = 7_261_001  # any constant shared by every writer of the chain

# The actions the log records (free text is refused so filters and reports stay reliable).
ACTIONS = frozenset({
    "login", "login_failed", "logout", "lockout", "totp_enabled", "totp_disabled",
    "token_created", "token_revoked", "session_revoked",
    "reveal", "export", "bulk_export",
    "role_created", "role_changed", "role_deleted", "user_roles_changed", "user_changed",
    "config_changed", "consent_changed", "dsr_created", "dsr_access", "dsr_erasure",
    "merge", "unmerge", "anomaly_lock", "unlock", "private_query", "budget_changed",
})


def actor_ref(user_id: int | None) -> str:
    """Users are named by id (itself a pseudonym for the person), the system by name."""
    return f"user:{user_id}" if user_id is not None else "system"


def _canonical(entry: AuditEntry) -> bytes:
    body = {
        "id": entry.id,
        "at": entry.at.isoformat(timespec="microseconds"),
        "action": entry.action,
        "actor": entry.actor,
        "target": entry.target,
        "network": entry.network,
        "details": entry.details or {},
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def entry_hash(secret: str, prev_hash: str, entry: AuditEntry) -> str:
    return hmac.new(secret.encode(), prev_hash.encode() + b"\n" + _canonical(entry),
                    hashlib.sha256).hexdigest()


def _head_signature(secret: str, last_id: int, last_hash: str) -> str:
    return hmac.new(secret.encode(), f"head\x00{last_id}\x00{last_hash}".encode(),
                    hashlib.sha256).hexdigest()


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
    """Add one entry in the caller's transaction (it commits or rolls back with the work)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
    # microsecond precision survives both databases, so the hash recomputes exactly
    entry = AuditEntry(at=utcnow(), action=action, actor=actor, target=target, network=network,
                       details=details or {}, prev_hash=GENESIS, hash="pending-" + _nonce())
    session.add(entry)
    session.flush()  # the id, and on SQLite the write lock
    previous = session.execute(
        select(AuditEntry.hash).where(AuditEntry.id < entry.id).order_by(AuditEntry.id.desc()).limit(1)
    ).scalar()
    entry.prev_hash = previous or GENESIS
    entry.hash = entry_hash(secret, entry.prev_hash, entry)
    signature = _head_signature(secret, entry.id, entry.hash)
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, last_id=entry.id, last_hash=entry.hash, signature=signature))
    else:
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(
            last_id=entry.id, last_hash=entry.hash, signature=signature))
    session.flush()
    return entry


def _nonce() -> str:
    import secrets

    return secrets.token_hex(16)


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def iter_entries(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = list(session.scalars(
            select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def verify(session: Session, secret: str) -> VerifyReport:
    """Walk the whole chain; every edited, deleted, reordered or truncated entry is reported."""
    report = VerifyReport()
    previous_hash = GENESIS
    previous_id = 0
    for entry in iter_entries(session):
        report.checked += 1
        if entry.prev_hash != previous_hash:
            report.problems.append(
                f"entry {entry.id}: does not follow entry {previous_id} "
                "(an entry before it was deleted, inserted or reordered)")
        if entry_hash(secret, entry.prev_hash, entry) != entry.hash:
            report.problems.append(f"entry {entry.id}: content does not match its hash (edited)")
        previous_hash, previous_id = entry.hash, entry.id
    head = session.get(AuditHead, 1)
    if head is None:
        if report.checked:
            report.problems.append("the signed head is missing (the log was tampered with)")
    else:
        if head.signature != _head_signature(secret, head.last_id, head.last_hash):
            report.problems.append("the signed head does not match its signature (edited)")
        elif head.last_id != previous_id or head.last_hash != previous_hash:
            report.problems.append(
                f"the log ends at entry {previous_id} but the signed head names entry "
                f"{head.last_id} (entries at the end were deleted)")
    return report


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "at": entry.at.isoformat(), "action": entry.action,
        "actor": entry.actor, "target": entry.target, "network": entry.network,
        "details": entry.details or {}, "prev_hash": entry.prev_hash, "hash": entry.hash,
    }
