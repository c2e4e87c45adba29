"""Reading profiles for people: access, masking, lookup, timeline and identity graph.

Who may read a profile: whoever may read its linked contact or lead (through the record
service, so record scope applies), or a role reading ``profiles`` with scope ``all``
(administrators, auditors, privacy officers, integrations). Anyone else gets 404, as for a
profile that does not exist. E-mail and phone values (identifiers, traits, event data) are
shown the way the CRM shows the ``contact.email`` / ``contact.phone`` fields to that caller.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import String, Table, and_, false, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from rapport.crm import access
from rapport.crm.custom_fields import custom_field_specs
from rapport.crm.models import Activity
from rapport.crm.registry import OBJECTS
from rapport.errors import Forbidden, NotFound, ValidationFailed
from rapport.events.hub_models import CHANNELS, HubEvent, Source
from rapport.identity.identifiers import MASKED_KINDS, Identifier
from rapport.identity.merges import REVIEW_STATUSES
from rapport.identity.models import Identity, MergeReview, ProfileMerge
from rapport.profiles.live import JOURNEY_STAGES as JOURNEY_STAGES  # the list filters by these
from rapport.profiles.models import Profile
from rapport.trust.actor import Actor

MAX_PAGE = 200
MAX_GROUP = 10_000  # profiles merged into one survivor that a read follows


class _Records(Protocol):
    def get(self, session: Session, object_name: str, record_id: int, *, actor: Actor) -> Any: ...

    def get_many(self, session: Session, object_name: str, ids: list[int], *,
                 actor: Actor) -> dict[int, Any]: ...


# ---- masking ---------------------------------------------------------------------------------


def category_of_name(name: str) -> str | None:
    """The data category of a trait or property by its name (email, phone, mobile...)."""
    folded = name.casefold()
    if "email" in folded or "e-mail" in folded:
        return "contact.email"
    if "phone" in folded or "mobile" in folded or folded in ("tel", "telephone"):
        return "contact.phone"
    return None


def shown(actor: Actor, category: str | None, value: Any) -> Any:
    """``value`` as ``actor`` may see values of ``category``: clear, masked or None (hidden)."""
    if category is None or value in (None, ""):
        return value
    view = actor.access.field_view(category)
    if view == "clear":
        return value
    if view == "hidden":
        return None
    return str(access.mask_value(category, value))


def _mask_tree(actor: Actor, value: Any, category: str | None = None) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask_tree(actor, v, category_of_name(str(k)) or category)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tree(actor, v, category) for v in value]
    if category is not None:
        return shown(actor, category, value)
    if isinstance(value, str) and "@" in value:  # an address under an unexpected name
        return shown(actor, "contact.email", value)
    return value


def identifier_value(actor: Actor, kind: str, value: str) -> str | None:
    return cast(str | None, shown(actor, MASKED_KINDS.get(kind), value))


# ---- access ----------------------------------------------------------------------------------


def reads_all(actor: Actor) -> bool:
    return actor.access.allows("profiles", "read") and actor.access.scope("profiles") == "all"


def _reachable(records: _Records, session: Session, actor: Actor, profile: Profile) -> bool:
    if reads_all(actor):
        return True
    for object_name, record_id in (("contacts", profile.contact_id), ("leads", profile.lead_id)):
        if record_id is None:
            continue
        try:
            records.get(session, object_name, record_id, actor=actor)
        except (NotFound, Forbidden):  # out of scope, or no right on the object at all
            continue
        return True
    return False


@dataclass(frozen=True)
class Resolved:
    """The survivor of ``requested`` (itself when it was never merged)."""

    requested: int
    profile: Profile
    chain: tuple[int, ...]  # the merged ids followed, requested first

    @property
    def merged(self) -> bool:
        return self.requested != self.profile.id


def resolve(session: Session, profile_id: int) -> Resolved:
    chain: list[int] = []
    current = session.get(Profile, profile_id)
    while current is not None and current.merged_into_id is not None and len(chain) < 100:
        chain.append(current.id)
        current = session.get(Profile, current.merged_into_id)
    if current is None:
        raise NotFound(f"No profile with id {profile_id}")
    return Resolved(profile_id, current, tuple(chain))


def readable(records: _Records, session: Session, actor: Actor, profile_id: int) -> Resolved:
    """The profile (followed to its survivor) if ``actor`` may read it; 404 otherwise."""
    found = resolve(session, profile_id)
    if not _reachable(records, session, actor, found.profile):
        raise NotFound(f"No profile with id {profile_id}")
    return found


def group_ids(session: Session, profile_id: int) -> list[int]:
    """The profile and every profile merged into it (directly or through others)."""
    ids, frontier = [profile_id], [profile_id]
    while frontier and len(ids) < MAX_GROUP:
        frontier = list(session.scalars(select(Profile.id).where(Profile.merged_into_id.in_(frontier))))
        ids += frontier
    return ids


def lookup(session: Session, identifier: Identifier) -> int:
    profile_id = session.scalar(select(Identity.profile_id).where(
        Identity.kind == identifier.kind, Identity.value == identifier.value))
    if profile_id is None:
        raise NotFound(f"No profile holds this {identifier.kind}")
    return int(profile_id)


# ---- shapes ----------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def traits_json(actor: Actor, traits: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, entry in sorted(traits.items()):
        if not isinstance(entry, Mapping):
            continue
        category = category_of_name(name)
        value = _mask_tree(actor, entry.get("value"), category)
        if category is not None and value is None:
            continue  # hidden for this caller
        out[name] = {"value": value, "source_id": entry.get("source"), "at": entry.get("at")}
    return out


def counters_json(counters: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in counters.items() if k != "recent_sessions"}


def profile_json(actor: Actor, found: Resolved) -> dict[str, Any]:
    p = found.profile
    return {
        "id": p.id,
        "requested_id": found.requested,
        "merged": found.merged,
        "merged_from": list(found.chain),
        "traits": traits_json(actor, p.traits or {}),
        "counters": counters_json(p.counters or {}),
        "channels": list(p.channels or []),
        "journey_stage": p.journey_stage or "anonymous",
        "first_seen": _time(p.first_seen),
        "last_seen": _time(p.last_seen),
        "contact_id": p.contact_id,
        "lead_id": p.lead_id,
        "last_event_id": p.last_event_id,
        "version": p.version,
        "created_at": _time(p.created_at),
        "updated_at": _time(p.updated_at),
    }


# ---- timeline --------------------------------------------------------------------------------


def _decode(cursor: str | None) -> tuple[datetime, int, int] | None:
    if not cursor:
        return None
    try:
        at, rank, item_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None or rank not in (0, 1) or not isinstance(item_id, int):
            raise ValueError("bad cursor")
        return parsed, int(rank), item_id
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed("The timeline cursor is invalid; start again without it") from exc


def _encode(at: datetime, rank: int, item_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([at.isoformat(), rank, item_id])).decode()


def _before(column: Any, id_column: Any, rank: int, cursor: tuple[datetime, int, int] | None) -> Any:
    """Rows after ``cursor`` in the order (time, rank, id) descending."""
    if cursor is None:
        return None
    at, c_rank, c_id = cursor
    same_time = (id_column < c_id) if rank == c_rank else (false() if rank > c_rank else None)
    if same_time is None:
        return column <= at
    return or_(column < at, and_(column == at, same_time))


EVENT_RANK, ACTIVITY_RANK = 1, 0


def timeline(records: _Records, session: Session, actor: Actor, found: Resolved, *,
             limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """Events of the profile and of profiles merged into it, with the CRM activities of the
    linked contact and lead, newest first; ``next_cursor`` pages on (keyset, stable)."""
    position = _decode(cursor)
    ids = group_ids(session, found.profile.id)
    items: list[tuple[datetime, int, int, dict[str, Any]]] = []
    stmt = select(HubEvent).where(HubEvent.profile_id.in_(ids))
    condition = _before(HubEvent.timestamp, HubEvent.id, EVENT_RANK, position)
    if condition is not None:
        stmt = stmt.where(condition)
    events = list(session.scalars(stmt.order_by(HubEvent.timestamp.desc(), HubEvent.id.desc())
                                  .limit(limit + 1)))
    source_names: dict[int, str] = {}
    if events:
        source_names = {row.id: row.name for row in session.execute(
            select(Source.id, Source.name).where(Source.id.in_({e.source_id for e in events})))}
    for e in events:
        items.append((e.timestamp, EVENT_RANK, e.id, {
            "kind": "event", "id": e.id, "at": e.timestamp.isoformat(), "type": e.type,
            "name": e.name, "channel": e.channel, "source_id": e.source_id,
            "source": source_names.get(e.source_id), "session_id": e.session_id,
            "profile_id": e.profile_id,
            "properties": _mask_tree(actor, e.properties or {}),
            "traits": _mask_tree(actor, e.traits or {}) if e.type == "identify" else {},
        }))
    items += _activities(records, session, actor, found.profile, limit, position)
    items.sort(key=lambda i: (i[0], i[1], i[2]), reverse=True)
    page = items[:limit]
    more = len(items) > limit
    next_cursor = _encode(*page[-1][:3]) if more and page else None
    return {"profile_id": found.profile.id, "items": [i[3] for i in page],
            "next_cursor": next_cursor}


def _activities(records: _Records, session: Session, actor: Actor, profile: Profile, limit: int,
                position: tuple[datetime, int, int] | None) -> list[tuple[datetime, int, int, dict[str, Any]]]:
    links = []
    for object_name, record_id, column in (("contacts", profile.contact_id, Activity.contact_id),
                                           ("leads", profile.lead_id, Activity.lead_id)):
        if record_id is None or not actor.access.allows(object_name, "read"):
            continue
        try:
            records.get(session, object_name, record_id, actor=actor)
        except (NotFound, Forbidden):
            continue
        links.append(column == record_id)
    if not links or not actor.access.allows("activities", "read"):
        return []
    spec = OBJECTS["activities"]
    stmt = select(Activity).where(or_(*links))
    scope = access.scope_clause(actor, spec, cast(Table, Activity.__table__))
    if scope is not None:
        stmt = stmt.where(scope)
    condition = _before(Activity.occurred_at, Activity.id, ACTIVITY_RANK, position)
    if condition is not None:
        stmt = stmt.where(condition)
    rows = list(session.scalars(stmt.order_by(Activity.occurred_at.desc(), Activity.id.desc())
                                .limit(limit + 1)))
    custom = custom_field_specs(session, "activities") if rows else {}
    plan = access.field_plan(actor, spec, custom) if rows else None
    out = []
    for a in rows:
        values = {"type": a.type, "direction": a.direction, "subject": a.subject, "body": a.body,
                  "duration_seconds": a.duration_seconds, "owner_id": a.owner_id,
                  "contact_id": a.contact_id, "lead_id": a.lead_id}
        visible, _ = access.present(actor, spec, custom, values, plan)
        out.append((a.occurred_at, ACTIVITY_RANK, a.id, {
            "kind": "activity", "id": a.id, "at": a.occurred_at.isoformat(),
            **{k: (str(v) if isinstance(v, access.Masked) else v) for k, v in visible.items()}}))
    return out


# ---- identity graph --------------------------------------------------------------------------


def _merge_json(actor: Actor, m: ProfileMerge) -> dict[str, Any]:
    return {"id": m.id, "winner_id": m.winner_id, "loser_id": m.loser_id, "at": _time(m.at),
            "identifier_kind": m.identifier_kind,
            "identifier_value": identifier_value(actor, m.identifier_kind, m.identifier_value),
            "event_id": m.event_id, "identities_moved": len(m.moved_identity_ids or []),
            "undone_at": _time(m.undone_at)}


def review_json(actor: Actor, r: MergeReview) -> dict[str, Any]:
    return {"id": r.id, "profile_a_id": r.profile_a_id, "profile_b_id": r.profile_b_id,
            "identifier_kind": r.identifier_kind,
            "identifier_value": identifier_value(actor, r.identifier_kind, r.identifier_value),
            "reason": r.reason, "event_id": r.event_id, "status": r.status,
            "created_at": _time(r.created_at), "resolved_at": _time(r.resolved_at),
            "resolved_by": r.resolved_by}


def identity_graph(session: Session, actor: Actor, found: Resolved) -> dict[str, Any]:
    profile_id = found.profile.id
    ids = group_ids(session, profile_id)
    identities = []
    for i in session.scalars(select(Identity).where(Identity.profile_id == profile_id)
                             .order_by(Identity.first_seen, Identity.id)):
        kind, _, slot = i.kind.partition("#")
        identities.append({
            "id": i.id, "kind": kind, "value": identifier_value(actor, kind, i.value),
            "first_seen": _time(i.first_seen), "first_event_id": i.first_event_id,
            **({"fingerprint_link": int(slot)} if slot.isdigit() else {}),
        })
    merges = session.scalars(select(ProfileMerge).where(or_(
        ProfileMerge.winner_id.in_(ids), ProfileMerge.loser_id == profile_id)).order_by(ProfileMerge.id.desc()))
    reviews = session.scalars(select(MergeReview).where(
        MergeReview.status == "open",
        or_(MergeReview.profile_a_id.in_(ids), MergeReview.profile_b_id.in_(ids))).order_by(MergeReview.id))
    return {
        "profile_id": profile_id,
        "merged_profiles": [i for i in ids if i != profile_id],
        "identities": identities,
        "merges": [_merge_json(actor, m) for m in merges],
        "reviews": [review_json(actor, r) for r in reviews],
    }


def list_reviews(session: Session, actor: Actor, *, status: str = "open", limit: int = 50,
                 after: int | None = None) -> dict[str, Any]:
    stmt = select(MergeReview).where(MergeReview.status == status)
    if after is not None:
        stmt = stmt.where(MergeReview.id > after)
    rows = list(session.scalars(stmt.order_by(MergeReview.id).limit(limit + 1)))
    page = rows[:limit]
    total = session.scalar(select(func.count()).select_from(MergeReview).where(MergeReview.status == status))
    return {"items": [review_json(actor, r) for r in page], "count": int(total or 0),
            "next_cursor": str(page[-1].id) if len(rows) > limit and page else None}


def review_counts(session: Session) -> dict[str, int]:
    """Merge reviews per status (every status present, zero when none)."""
    counts = dict.fromkeys(REVIEW_STATUSES, 0)
    for status, n in session.execute(select(MergeReview.status, func.count())
                                     .group_by(MergeReview.status)):
        counts[status] = int(n)
    return counts


@dataclass(frozen=True)
class LinkedRecord:
    object_name: str  # contacts or leads
    id: int
    title: str


@dataclass(frozen=True)
class ReviewSide:
    """One profile of a review as ``actor`` may see it: a profile they may not read shows
    its id only (``readable`` False), like the 360 page answering 404."""

    requested_id: int
    id: int  # the survivor, when the profile was merged since the review was opened
    readable: bool
    traits: dict[str, Any] = field(default_factory=dict)  # masked as traits_json masks them
    journey_stage: str = "anonymous"
    first_seen: str | None = None
    last_seen: str | None = None
    events: int = 0
    linked: tuple[LinkedRecord, ...] = ()


def review_sides(records: _Records, session: Session, actor: Actor,
                 profile_ids: Iterable[int]) -> dict[int, ReviewSide]:
    """The profiles of a page of reviews, by requested id, in a few queries: linked contacts
    and leads are read in one go per object (labels, not counted as record reads)."""
    resolved: dict[int, Profile] = {}
    for profile_id in set(profile_ids):
        try:
            resolved[profile_id] = resolve(session, profile_id).profile
        except NotFound:  # erased meanwhile: nothing left to show
            continue
    found: dict[str, dict[int, Any]] = {}
    for object_name, column in (("contacts", "contact_id"), ("leads", "lead_id")):
        ids = sorted({getattr(p, column) for p in resolved.values() if getattr(p, column)})
        found[object_name] = records.get_many(session, object_name, ids, actor=actor) if ids else {}
    everyone = reads_all(actor)
    sides = {}
    for requested, p in resolved.items():
        linked = tuple(
            LinkedRecord(object_name, record_id, str(found[object_name][record_id].values.get("title")
                                                     or f"#{record_id}"))
            for object_name, record_id in (("contacts", p.contact_id), ("leads", p.lead_id))
            if record_id is not None and record_id in found[object_name])
        if not (everyone or linked):
            sides[requested] = ReviewSide(requested, p.id, readable=False)
            continue
        events = (p.counters or {}).get("events") or {}
        sides[requested] = ReviewSide(
            requested, p.id, readable=True, traits=traits_json(actor, p.traits or {}),
            journey_stage=p.journey_stage or "anonymous", first_seen=_time(p.first_seen),
            last_seen=_time(p.last_seen),
            events=sum(v for v in events.values() if isinstance(v, int)), linked=linked)
    return sides


def linked_profile_id(session: Session, object_name: str, record_id: int) -> int | None:
    """The live profile linked to a contact or lead (the oldest, if several are)."""
    column = Profile.contact_id if object_name == "contacts" else Profile.lead_id if object_name == "leads" else None
    if column is None:
        return None
    return session.scalar(select(Profile.id).where(column == record_id, Profile.merged_into_id.is_(None))
                          .order_by(Profile.id).limit(1))


def profiles_of(session: Session, ids: Iterable[int]) -> dict[int, Profile]:
    return {p.id: p for p in session.scalars(select(Profile).where(Profile.id.in_(list(ids))))}


# ---- the customer list -----------------------------------------------------------------------

LIST_SORTS = ("last_seen", "first_seen")


@dataclass(frozen=True)
class ProfileFilters:
    """What the customer list narrows to; ``profile_id`` comes from an identifier search."""

    stage: str = ""  # one of JOURNEY_STAGES, or every stage
    linked: bool | None = None  # linked to a contact or lead, or not, or either
    channel: str = ""  # one of the hub's channels, or every channel
    profile_id: int | None = None
    sort: str = "last_seen"  # newest first


@dataclass(frozen=True)
class ProfileRow:
    """One live profile of the list, masked as the 360 page masks it."""

    id: int
    traits: dict[str, Any]
    journey_stage: str
    channels: tuple[str, ...]
    events: int
    first_seen: str | None
    last_seen: str | None
    linked: tuple[LinkedRecord, ...]  # the linked records the actor may read
    contact_id: int | None
    lead_id: int | None


@dataclass(frozen=True)
class ProfileList:
    items: tuple[ProfileRow, ...]
    count: int
    more: bool  # another page follows


def _readable_clause(actor: Actor) -> Any:
    """The profiles ``actor`` may read, as SQL: ``_reachable`` for a whole list (a linked
    contact or lead in the actor's record scope, as the record service reads one)."""
    if reads_all(actor):
        return None
    reachable = []
    for object_name, column in (("contacts", Profile.contact_id), ("leads", Profile.lead_id)):
        spec = OBJECTS[object_name]
        if not actor.access.allows(object_name, "read"):
            continue
        table = cast(Table, spec.model.__table__)
        ids = select(table.c.id)
        scope = access.scope_clause(actor, spec, table)
        if scope is not None:
            ids = ids.where(scope)
        reachable.append(column.in_(ids))
    return or_(*reachable) if reachable else false()


def list_profiles(records: _Records, session: Session, actor: Actor, filters: ProfileFilters, *,
                  limit: int = 50, offset: int = 0) -> ProfileList:
    """Live profiles ``actor`` may read, newest seen (or first seen) first, ``limit`` from
    ``offset``; linked contacts and leads are read in one go per object (labels only)."""
    conditions: list[Any] = [Profile.merged_into_id.is_(None)]
    readable_now = _readable_clause(actor)
    if readable_now is not None:
        conditions.append(readable_now)
    if filters.stage in JOURNEY_STAGES:
        stage = Profile.journey_stage == filters.stage
        conditions.append(or_(stage, Profile.journey_stage.is_(None)) if filters.stage == "anonymous"
                          else stage)
    if filters.linked is not None:
        linked = or_(Profile.contact_id.is_not(None), Profile.lead_id.is_not(None))
        conditions.append(linked if filters.linked else ~linked)
    if filters.channel in CHANNELS:
        # a JSON list of known names: the quoted name is in its text on SQLite and PostgreSQL
        conditions.append(sql_cast(Profile.channels, String).like(f'%"{filters.channel}"%'))
    if filters.profile_id is not None:
        conditions.append(Profile.id == filters.profile_id)
    column = Profile.first_seen if filters.sort == "first_seen" else Profile.last_seen
    rows = list(session.scalars(
        select(Profile).where(*conditions)
        .order_by(column.desc().nulls_last(), Profile.id.desc())
        .offset(offset).limit(limit + 1)))
    total = session.scalar(select(func.count()).select_from(Profile).where(*conditions))
    page = rows[:limit]
    found: dict[str, dict[int, Any]] = {}
    for object_name, key in (("contacts", "contact_id"), ("leads", "lead_id")):
        ids = sorted({getattr(p, key) for p in page if getattr(p, key)})
        found[object_name] = records.get_many(session, object_name, ids, actor=actor) if ids else {}
    items = []
    for p in page:
        events = (p.counters or {}).get("events") or {}
        items.append(ProfileRow(
            id=p.id, traits=traits_json(actor, p.traits or {}),
            journey_stage=p.journey_stage or "anonymous", channels=tuple(p.channels or ()),
            events=sum(v for v in events.values() if isinstance(v, int)),
            first_seen=_time(p.first_seen), last_seen=_time(p.last_seen),
            linked=tuple(
                LinkedRecord(name, record_id, str(found[name][record_id].values.get("title")
                                                  or f"#{record_id}"))
                for name, record_id in (("contacts", p.contact_id), ("leads", p.lead_id))
                if record_id is not None and record_id in found[name]),
            contact_id=p.contact_id, lead_id=p.lead_id))
    return ProfileList(tuple(items), int(total or 0), len(rows) > limit)
