"""The data hub's event log and dead letters as erasure stores (rapport.trust.erasure).

Whose events? The person's profiles are those linked to their contact or lead (and the
profiles merged into those); the ``user_id`` and ``anonymous_id`` identifiers of those
profiles name their events. Events whose traits or properties hold the person's e-mail or
phone are theirs too (and so are the other events of the user ids found on them). Dead
letters are matched on their payload text: the person's e-mail, phone, user or anonymous id.
Events are deleted (with the person's derived-session rows); so are dead letters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Table, Text, delete, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from rapport.events.envelope import fast_keyed_hash
from rapport.events.hub_models import DeadLetter, EventSession, HubEvent
from rapport.events.partitioning import customer_key
from rapport.identity.models import Identity
from rapport.profiles.models import Profile
from rapport.trust import erasure
from rapport.trust.erasure import Subject

_CHUNK = 500


def _chunks(values: Iterable[Any], size: int = _CHUNK) -> list[list[Any]]:
    items = sorted(values)
    return [items[i:i + size] for i in range(0, len(items), size)]


def profile_ids(session: Session, subject: Subject) -> set[int]:
    """The person's profiles: linked to their contact or lead, and those merged into them."""
    found: set[int] = set()
    for column, ids in ((Profile.contact_id, subject.ids("contacts")),
                        (Profile.lead_id, subject.ids("leads"))):
        for chunk in _chunks(ids):
            found.update(session.scalars(select(Profile.id).where(column.in_(chunk))))
    frontier = set(found)
    for _round in range(20):
        if not frontier:
            break
        losers: set[int] = set()
        for chunk in _chunks(frontier):
            losers.update(session.scalars(select(Profile.id).where(Profile.merged_into_id.in_(chunk))))
        frontier = losers - found
        found |= frontier
    return found


@dataclass(frozen=True)
class Keys:
    user_ids: frozenset[str]
    anonymous_ids: frozenset[str]
    emails: frozenset[str]
    phones: frozenset[str]


def person_keys(session: Session, subject: Subject) -> Keys:
    users: set[str] = set()
    anonymous: set[str] = set()
    emails = set(subject.emails)
    phones = set(subject.phones)
    for chunk in _chunks(profile_ids(session, subject)):
        for kind, value in session.execute(select(Identity.kind, Identity.value).where(
                Identity.profile_id.in_(chunk),
                Identity.kind.in_(("user_id", "anonymous_id", "email", "phone")))):
            {"user_id": users, "anonymous_id": anonymous, "email": emails,
             "phone": phones}[kind].add(value)
    return Keys(frozenset(users), frozenset(anonymous), frozenset(e.lower() for e in emails),
                frozenset(phones))


def _json_fragment(value: str) -> str:
    """How a string appears inside stored JSON text (escaped, without its quotes)."""
    return orjson.dumps(value).decode()[1:-1]


def event_ids(session: Session, subject: Subject) -> list[int]:
    keys = person_keys(session, subject)
    found: set[int] = set()
    users = set(keys.user_ids)
    needles = [_json_fragment(v) for v in keys.emails | keys.phones if v]
    if needles:
        bags = [sql_cast(HubEvent.traits, Text), sql_cast(HubEvent.properties, Text)]
        # e-mails are matched whatever their case (clients send them as typed)
        condition = or_(*[bag.icontains(n, autoescape=True) for bag in bags for n in needles])
        for event_id, user_id in session.execute(select(HubEvent.id, HubEvent.user_id).where(condition)):
            found.add(event_id)
            if user_id:
                users.add(user_id)
    for column, values in ((HubEvent.user_id, users), (HubEvent.anonymous_id, keys.anonymous_ids)):
        for chunk in _chunks(values):
            found.update(session.scalars(select(HubEvent.id).where(column.in_(chunk))))
    return sorted(found)


def _rows(session: Session, table: Table, ids: list[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in _chunks(ids):
        out += [{k: erasure.plain(v) for k, v in row.items()}
                for row in session.execute(select(table).where(table.c.id.in_(chunk))
                                           .order_by(table.c.id)).mappings()]
    return out


@dataclass(frozen=True)
class EventStore:
    """The event log (and the derived sessions keyed on the person's ids)."""

    name: str = "events"
    holds: str = ("events the person's devices and apps sent (page views, orders, traits), "
                  "found through their profile's identifiers, e-mail and phone")
    action: str = "deleted, with their derived sessions"
    erases: bool = True

    def find(self, session: Session, subject: Subject) -> int:
        return len(event_ids(session, subject))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        return _rows(session, cast(Table, HubEvent.__table__), event_ids(session, subject))

    def erase(self, session: Session, subject: Subject) -> int:
        ids = event_ids(session, subject)
        pairs: set[tuple[str | None, str | None]] = set()
        erased = 0
        for chunk in _chunks(ids):
            pairs.update((r.user_id, r.anonymous_id) for r in session.execute(
                select(HubEvent.user_id, HubEvent.anonymous_id).where(HubEvent.id.in_(chunk))))
            result = session.execute(delete(HubEvent).where(HubEvent.id.in_(chunk)))
            erased += int(result.rowcount or 0)  # type: ignore[attr-defined]
        session_keys = {fast_keyed_hash(subject.secret, "session", customer_key(u, a))
                        for u, a in pairs}
        session_keys |= {fast_keyed_hash(subject.secret, "session", customer_key(u, None))
                         for u, _ in pairs if u}
        for chunk in _chunks(session_keys):
            session.execute(delete(EventSession).where(EventSession.key.in_(chunk)))
        return erased


def dead_letter_ids(session: Session, subject: Subject) -> list[int]:
    keys = person_keys(session, subject)
    needles = [_json_fragment(v) for v in keys.emails | keys.phones if v]
    needles += [orjson.dumps(v).decode() for v in keys.user_ids | keys.anonymous_ids if v]
    if not needles:
        return []
    condition = or_(*[DeadLetter.payload.icontains(n, autoescape=True) for n in needles])
    return sorted(session.scalars(select(DeadLetter.id).where(condition, func.length(DeadLetter.payload) > 0)))


@dataclass(frozen=True)
class DeadLetterStore:
    name: str = "dead_letters"
    holds: str = "refused events whose raw payload holds the person's e-mail, phone or ids"
    action: str = "deleted"
    erases: bool = True

    def find(self, session: Session, subject: Subject) -> int:
        return len(dead_letter_ids(session, subject))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        return _rows(session, cast(Table, DeadLetter.__table__), dead_letter_ids(session, subject))

    def erase(self, session: Session, subject: Subject) -> int:
        erased = 0
        for chunk in _chunks(dead_letter_ids(session, subject)):
            result = session.execute(delete(DeadLetter).where(DeadLetter.id.in_(chunk)))
            erased += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return erased


def _first_of(names: Iterable[str]) -> str:
    """Erase before the identity graph and the person's records are gone (they lead here)."""
    wanted = set(names)
    return next(s.name for s in erasure.STORES if s.name in wanted)


def register() -> None:
    present = {s.name for s in erasure.STORES}
    for store in (EventStore(), DeadLetterStore()):
        if store.name not in present:
            erasure.register_store(store, before=_first_of(
                ("identities", "profiles", "profile_merges", "merge_reviews", "leads", "contacts")))


register()
