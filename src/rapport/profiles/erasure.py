"""The identity graph and live profiles as erasure stores (rapport.trust.erasure).

Whose profiles? Those linked to the person's contacts or leads, those holding an identity
with their e-mail, phone, contact id or lead id, and every profile merged into one of those.
Their merge reviews, merges (snapshots hold traits), identities and the profiles themselves
are deleted, in that order, after the event log (whose store finds events through these
profiles) and before the person's records. Re-ingestion cannot bring the person back: the
pipeline keeps events naming a suppressed e-mail or phone out of profiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, delete, or_, select
from sqlalchemy.orm import Session

from rapport.identity.models import Identity, MergeReview, ProfileMerge
from rapport.profiles.models import Profile
from rapport.trust import erasure
from rapport.trust.erasure import Subject

_CHUNK = 500
_FOUND = "rapport.profiles.erasure"  # session.info: profile ids found per subject


def _chunks(values: Iterable[Any]) -> list[list[Any]]:
    items = sorted(values)
    return [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _identity_keys(subject: Subject) -> list[tuple[str, str]]:
    keys = [("email", e.lower()) for e in subject.emails]
    keys += [("phone", p) for p in subject.phones]
    keys += [("contact_id", str(i)) for i in subject.ids("contacts")]
    keys += [("lead_id", str(i)) for i in subject.ids("leads")]
    return keys


def _identity_clause(subject: Subject) -> Any:
    keys = _identity_keys(subject)
    if not keys:
        return None
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    return or_(*[and_(Identity.kind == kind, Identity.value.in_(values))
                 for kind, values in by_kind.items()])


def profile_ids(session: Session, subject: Subject) -> set[int]:
    """The person's profiles (see the module docstring), remembered for the transaction so a
    later store still finds what an earlier one erased the traces of."""
    remembered: dict[str, set[int]] = session.info.setdefault(_FOUND, {})
    found: set[int] = set(remembered.get(subject.primary, set()))
    for column, ids in ((Profile.contact_id, subject.ids("contacts")),
                        (Profile.lead_id, subject.ids("leads"))):
        for chunk in _chunks(ids):
            found.update(session.scalars(select(Profile.id).where(column.in_(chunk))))
    clause = _identity_clause(subject)
    if clause is not None:
        found.update(session.scalars(select(Identity.profile_id).where(clause)))
    frontier = set(found)
    for _round in range(50):
        if not frontier:
            break
        losers: set[int] = set()
        for chunk in _chunks(frontier):
            losers.update(session.scalars(select(Profile.id).where(Profile.merged_into_id.in_(chunk))))
        frontier = losers - found
        found |= frontier
    remembered[subject.primary] = set(found)
    return found


def _rows(session: Session, table: Table, where: Any) -> list[dict[str, Any]]:
    return [{k: erasure.plain(v) for k, v in row.items()}
            for row in session.execute(select(table).where(where).order_by(table.c.id)).mappings()]


@dataclass(frozen=True)
class _GraphStore:
    name: str
    holds: str
    action: str = "deleted"
    erases: bool = True

    @property
    def table(self) -> Table:
        model = {"merge_reviews": MergeReview, "profile_merges": ProfileMerge,
                 "identities": Identity, "profiles": Profile}[self.name]
        return cast(Table, model.__table__)

    def _where(self, session: Session, subject: Subject) -> Any:
        ids = sorted(profile_ids(session, subject))
        c = self.table.c
        if self.name == "merge_reviews":
            return or_(c.profile_a_id.in_(ids), c.profile_b_id.in_(ids))
        if self.name == "profile_merges":
            return or_(c.winner_id.in_(ids), c.loser_id.in_(ids))
        if self.name == "identities":
            clause = _identity_clause(subject)
            return or_(c.profile_id.in_(ids), clause) if clause is not None else c.profile_id.in_(ids)
        return c.id.in_(ids)

    def find(self, session: Session, subject: Subject) -> int:
        return len(list(session.scalars(select(self.table.c.id).where(self._where(session, subject)))))

    def export(self, session: Session, subject: Subject) -> list[dict[str, Any]]:
        return _rows(session, self.table, self._where(session, subject))

    def erase(self, session: Session, subject: Subject) -> int:
        where = self._where(session, subject)
        result = session.execute(delete(self.table).where(where))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


STORES = (
    _GraphStore("merge_reviews", "merges of the person's profiles waiting for a decision "
                "(the identifier that joined them)"),
    _GraphStore("profile_merges", "the merge history of the person's profiles, with snapshots "
                "of their traits and counters"),
    _GraphStore("identities", "the person's identifiers in the identity graph: user and "
                "anonymous ids, e-mail, phone, devices, external and CRM ids"),
    _GraphStore("profiles", "the person's live profiles: traits, counters, channels, journey "
                "stage, first and last seen"),
)


def register() -> None:
    present = {s.name for s in erasure.STORES}
    for store in STORES:
        if store.name not in present:
            erasure.register_store(store, before=next(
                s.name for s in erasure.STORES if s.name in ("leads", "contacts")))


register()
