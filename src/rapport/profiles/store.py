"""Reading and writing profile states in bulk (one query per batch, not per profile)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Integer, String, Table, insert, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from rapport.db.among import among
from rapport.db.base import UtcDateTime, utcnow
from rapport.db.bulk import update_rows
from rapport.identity.models import Identity
from rapport.profiles.live import ProfileState
from rapport.profiles.models import Profile

# Identity kinds that make a profile "identified" (and user ids: the merge guard).
IDENTIFYING_KINDS = ("user_id", "email", "phone", "contact_id", "lead_id")
CHUNK = 1000

_PROFILES = cast(Table, Profile.__table__)
_COLUMNS = (Profile.id, Profile.traits, Profile.counters, Profile.channels, Profile.journey_stage,
            Profile.first_seen, Profile.last_seen, Profile.contact_id, Profile.lead_id,
            Profile.last_event_id, Profile.version, Profile.merged_into_id)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def lock_rows(session: Session) -> bool:
    """PostgreSQL locks the rows a batch changes (SQLite has one writer anyway)."""
    return session.get_bind().dialect.name == "postgresql"


def _state(row: Any) -> ProfileState:
    return ProfileState(
        id=row.id, traits=row.traits or {}, counters=row.counters or {},
        channels=row.channels or [], journey_stage=row.journey_stage,
        first_seen=row.first_seen, last_seen=row.last_seen, contact_id=row.contact_id,
        lead_id=row.lead_id, last_event_id=row.last_event_id, version=row.version,
        merged_into_id=row.merged_into_id,
    )


def load_states(session: Session, ids: Iterable[int], *, lock: bool = False) -> dict[int, ProfileState]:
    """States of the profiles ``ids`` and of every survivor they were merged into."""
    found: dict[int, ProfileState] = {}
    wanted = sorted(set(ids))
    while wanted:
        for chunk in chunks(wanted):
            stmt = select(*_COLUMNS).where(among(session, Profile.id, chunk)).order_by(Profile.id)
            if lock and lock_rows(session):
                stmt = stmt.with_for_update()
            for row in session.execute(stmt):
                found[row.id] = _state(row)
        wanted = sorted({s.merged_into_id for s in found.values()
                         if s.merged_into_id is not None and s.merged_into_id not in found})
    for state in found.values():
        if state.merged_into_id is not None:
            state.merged_into = found.get(state.merged_into_id)
    return found


def find_identities(session: Session, wanted: Iterable[tuple[str, str]]) -> list[Any]:
    """Stored identities of exactly the ``(kind, value)`` pairs asked for: rows of kind,
    value, profile_id, id, last_seen. One probe of the unique index per pair (``kind IN … AND
    value IN …`` would probe every kind with every value)."""
    pairs = sorted({(str(kind), str(value)) for kind, value in wanted})
    if not pairs:
        return []
    columns: dict[str, TypeEngine[Any]] = {
        "kind": String(), "value": String(), "profile_id": Integer(), "id": Integer(),
        "last_seen": UtcDateTime()}
    if session.get_bind().dialect.name == "postgresql":
        stmt = text(
            "SELECT i.kind, i.value, i.profile_id, i.id, i.last_seen FROM identities AS i "
            "JOIN unnest(CAST(:kinds AS varchar[]), CAST(:vals AS varchar[])) AS w(kind, value) "
            "ON i.kind = w.kind AND i.value = w.value").columns(**columns)
        params: dict[str, Any] = {"kinds": [k for k, _ in pairs], "vals": [v for _, v in pairs]}
    else:
        stmt = text(
            "SELECT i.kind, i.value, i.profile_id, i.id, i.last_seen FROM json_each(:pairs) AS w "
            "JOIN identities AS i ON i.kind = json_extract(w.value, '$[0]') "
            "AND i.value = json_extract(w.value, '$[1]')").columns(**columns)
        params = {"pairs": orjson.dumps([list(pair) for pair in pairs]).decode()}
    return list(session.execute(stmt, params))


def strong_identities(session: Session, ids: Iterable[int]) -> dict[int, set[tuple[str, str]]]:
    """``{profile id: {(kind, value)}}`` of the identifying kinds (user ids, e-mails...)."""
    out: dict[int, set[tuple[str, str]]] = {}
    wanted = sorted(set(ids))
    for chunk in chunks(wanted):
        stmt = select(Identity.profile_id, Identity.kind, Identity.value).where(
            among(session, Identity.profile_id, chunk),
            or_(Identity.kind.in_(IDENTIFYING_KINDS), Identity.kind.like("external:%")))
        for profile_id, kind, value in session.execute(stmt):
            out.setdefault(profile_id, set()).add((kind, value))
    return out


def _values(state: ProfileState, now: datetime) -> dict[str, Any]:
    return {
        "traits": state.traits, "counters": state.counters, "channels": state.channels,
        "journey_stage": state.journey_stage, "first_seen": state.first_seen,
        "last_seen": state.last_seen, "contact_id": state.contact_id, "lead_id": state.lead_id,
        "last_event_id": state.last_event_id, "updated_at": now,
        "merged_into_id": state.merged_into.id if state.merged_into is not None
        else state.merged_into_id,
    }


def insert_states(session: Session, states: Sequence[ProfileState]) -> None:
    """Insert new profiles in one statement; their ids are set on the states."""
    if not states:
        return
    now = utcnow()
    # merged_into_id is written by the update that follows (the survivor may be new too)
    rows = [{**_values(s, now), "merged_into_id": None, "created_at": now, "version": 1}
            for s in states]
    event_ids = [s.last_event_id for s in states]
    if len(rows) == 1:
        states[0].id = session.execute(insert(_PROFILES).returning(_PROFILES.c.id), rows[0]).scalar_one()
    elif session.get_bind().dialect.name == "sqlite" and None not in event_ids \
            and len(set(event_ids)) == len(event_ids):
        # SQLite would insert RETURNING rows one statement each (no ordering guarantee): a
        # plain executemany, then the ids by the batch's events (each new profile holds a
        # different, not yet processed, last event: nothing stored names one of them)
        session.execute(insert(_PROFILES), rows)
        new_ids: dict[int, int] = {}
        for chunk in chunks(sorted(cast(list[int], event_ids))):
            new_ids.update((e, i) for i, e in session.execute(
                select(Profile.id, Profile.last_event_id).where(
                    among(session, Profile.last_event_id, chunk))))
        for state in states:
            state.id = new_ids[cast(int, state.last_event_id)]
    else:
        result = session.execute(
            insert(_PROFILES).returning(_PROFILES.c.id, sort_by_parameter_order=True), rows)
        for state, new_id in zip(states, result.scalars(), strict=True):
            state.id = new_id
    for state in states:
        state.version = 1
        state.dirty = state.merged_into is not None


def update_states(session: Session, states: Sequence[ProfileState]) -> None:
    """Write changed profiles back (one executemany); each version goes up by one."""
    if not states:
        return
    now = utcnow()
    rows = []
    for state in states:
        state.version += 1
        rows.append({"id": state.id, "version": state.version, **_values(state, now)})
        state.dirty = False
    update_rows(session, _PROFILES, rows)


def source_priorities(session: Session) -> dict[int, int]:
    """``{source id: trait_priority}`` of the sources that set one (a handful of rows)."""
    from rapport.events.hub_models import Source
    from rapport.profiles.live import trait_priority

    out: dict[int, int] = {}
    for source_id, mapping in session.execute(select(Source.id, Source.mapping)):
        priority = trait_priority(mapping if isinstance(mapping, dict) else None)
        if priority:
            out[source_id] = priority
    return out
