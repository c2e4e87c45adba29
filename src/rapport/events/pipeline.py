"""The processing step of the data hub: stitch each stored event to a profile and apply it.

The bus calls ``process_events`` with a batch inside its transaction and commits after it.
Idempotent under redelivery: only events whose ``processed_at`` is still empty (checked again
in the database, rows locked on PostgreSQL) are processed, and ``processed_at`` is set in the
same transaction. Work per batch is a fixed number of queries, not one per event: identities,
profiles, user ids, CRM matches and consent are read once; new profiles and identities are
inserted in bulk; profiles and events are updated with one executemany each.

Events kept out of profiles (stored and marked processed, ``profile_id`` left empty):
- the person's analytics consent in force is withdrawn or denied (the contact or lead the
  profile is linked to, or the one the event's e-mail or phone matches);
- an e-mail or phone of the event is on the suppression ledger (an erased person).

A web SDK withdrawal or denial (``Consent Updated``) of a linked person is recorded in the
consent ledger (``rapport.profiles.consent_events``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rapport.config import Settings
from rapport.db.among import among
from rapport.db.base import utcnow
from rapport.db.bulk import update_rows
from rapport.events.hub_models import HubEvent
from rapport.identity.identifiers import Identifier, alias_previous_id, event_identifiers
from rapport.identity.stitching import Stitcher
from rapport.profiles.consent_events import record_withdrawals
from rapport.profiles.live import ProfileState, apply_event
from rapport.profiles.store import chunks, lock_rows, source_priorities, update_states

_EVENTS = cast(Table, HubEvent.__table__)


@dataclass(frozen=True)
class BatchOutcome:
    """What one call did (for logs, metrics and tests)."""

    processed: int = 0
    skipped: int = 0  # already processed (redelivered)
    kept_out: int = 0  # consent refused or person erased
    new_profiles: int = 0
    merges: int = 0
    reviews: int = 0


def _unprocessed(session: Session, events: Sequence[HubEvent]) -> list[HubEvent]:
    """The events still unprocessed in the database (a redelivered one may be done)."""
    candidates = [e for e in events if e.processed_at is None]
    if not candidates:
        return []
    open_ids: set[int] = set()
    for chunk in chunks(sorted({e.id for e in candidates})):
        stmt = select(_EVENTS.c.id).where(among(session, _EVENTS.c.id, chunk),
                                          _EVENTS.c.processed_at.is_(None))
        if lock_rows(session):
            stmt = stmt.with_for_update()
        open_ids |= set(session.scalars(stmt))
    seen: set[int] = set()
    out = []
    for event in sorted(candidates, key=lambda e: (e.timestamp, e.id)):
        if event.id in open_ids and event.id not in seen:
            seen.add(event.id)
            out.append(event)
    return out


def process_events(session: Session, settings: Settings, events: Sequence[HubEvent]) -> BatchOutcome:
    """Stitch and apply a batch (in event-time order); the caller commits."""
    pending = _unprocessed(session, events)
    if not pending:
        return BatchOutcome(skipped=len(events))
    region = settings.default_phone_region
    per_event = [event_identifiers(e, region) for e in pending]
    wanted: set[Identifier] = {i for ids in per_event for i in ids}
    for event in pending:
        if event.type == "alias" and (previous := alias_previous_id(event)) is not None:
            wanted |= {Identifier("user_id", previous), Identifier("anonymous_id", previous)}
    stitcher = Stitcher(session, settings, priorities=source_priorities(session))
    stitcher.load(wanted)
    targets: list[ProfileState | None] = []
    for event, identifiers in zip(pending, per_event, strict=True):
        target = stitcher.stitch(event, identifiers)
        if target is not None:
            apply_event(target, event, stitcher.priorities)
        targets.append(target)
    changed = stitcher.write()
    update_states(session, [s for s in changed if s.id is not None])
    record_withdrawals(session, settings, pending, targets)
    now = utcnow()
    rows = [{"eid": e.id, "pid": t.id if t is not None else None, "at": now}
            for e, t in zip(pending, targets, strict=True)]
    if session.get_bind().dialect.name == "postgresql":  # one statement, not 500
        session.execute(text(
            "UPDATE events SET profile_id = v.pid, processed_at = :at "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:pids AS bigint[])) AS v(id, pid) "
            "WHERE events.id = v.id"),
            {"at": now, "ids": [r["eid"] for r in rows], "pids": [r["pid"] for r in rows]})
    else:
        update_rows(session, _EVENTS, [{"id": r["eid"], "profile_id": r["pid"], "processed_at": now}
                                       for r in rows])
    for event, row in zip(pending, rows, strict=True):
        set_committed_value(event, "profile_id", row["pid"])
        set_committed_value(event, "processed_at", now)
    return BatchOutcome(
        processed=len(pending), skipped=len(events) - len(pending),
        kept_out=stitcher.suppressed_events + stitcher.refused_events,
        new_profiles=len(stitcher.new_profiles), merges=len(stitcher.merges),
        reviews=len(stitcher.reviews),
    )
