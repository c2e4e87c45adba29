"""Merging two profiles, undoing a merge, and the review queue of refused merges.

A merge keeps the older profile (smaller id); the other one points at it (``merged_into_id``),
so its id keeps working. The loser's identities move to the survivor and the merge row keeps
which event and identifier joined them, the moved identity ids and snapshots for the undo:
``{"loser": ..., "winner_before": ..., "merged": ...}`` (``loser_snapshot``). Events are never
rewritten. Every merge and undo is in the audit log (``merge`` / ``unmerge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from rapport.db.base import utcnow
from rapport.errors import Conflict, NotFound
from rapport.identity.models import Identity, MergeReview, ProfileMerge
from rapport.profiles.live import ProfileState, fold, journey_stage, unfold
from rapport.profiles.store import (
    IDENTIFYING_KINDS,
    load_states,
    source_priorities,
    strong_identities,
    update_states,
)
from rapport.trust import audit

_IDENTITIES = cast(Table, Identity.__table__)
REVIEW_STATUSES = ("open", "merged", "dismissed")


@dataclass(frozen=True)
class MergeResult:
    merge_id: int
    winner_id: int
    loser_id: int


def fold_in_memory(winner: ProfileState, loser: ProfileState,
                   priorities: dict[int, int]) -> dict[str, Any]:
    """Fold ``loser`` into ``winner`` in memory; returns the snapshots the undo needs."""
    snapshot = {"loser": loser.snapshot(), "winner_before": winner.snapshot()}
    fold(winner, loser, priorities)
    snapshot["merged"] = winner.snapshot()
    loser.merged_into = winner
    loser.dirty = True
    return snapshot


def record_merge(session: Session, secret: str, *, winner_id: int, loser_id: int,
                 snapshot: dict[str, Any], kind: str, value: str, event_id: int | None,
                 actor: str) -> int:
    """The stored side of a merge: move the identities, write the history, audit it.

    The caller writes both profiles' states (the loser with ``merged_into_id`` set).
    """
    moved = sorted(session.scalars(select(Identity.id).where(Identity.profile_id == loser_id)))
    if moved:
        session.execute(update(_IDENTITIES).where(_IDENTITIES.c.profile_id == loser_id)
                        .values(profile_id=winner_id))
    merge = ProfileMerge(winner_id=winner_id, loser_id=loser_id, at=utcnow(),
                         identifier_kind=kind, identifier_value=value[:320], event_id=event_id,
                         moved_identity_ids=moved, loser_snapshot=snapshot)
    session.add(merge)
    session.flush()
    audit.append(session, secret, "merge", actor=actor, target=f"profiles:{winner_id}",
                 details={"merge_id": merge.id, "loser_profile_id": loser_id,
                          "identifier_kind": kind, "event_id": event_id,
                          "identities_moved": len(moved)})
    return merge.id


def _identified(session: Session, states: list[ProfileState]) -> None:
    strong = strong_identities(session, [s.id for s in states if s.id is not None])
    for state in states:
        state.identified = bool(strong.get(state.id or 0))


def merge_profiles(session: Session, secret: str, first_id: int, second_id: int, *,
                   actor: str, kind: str = "manual", value: str = "",
                   event_id: int | None = None) -> MergeResult:
    """Merge two profiles on a person's decision (the review queue): no guards apply."""
    states = load_states(session, [first_id, second_id], lock=True)
    if first_id not in states or second_id not in states:
        raise NotFound("No such profile")
    a, b = states[first_id].live(), states[second_id].live()
    if a is b:
        raise Conflict(f"Profiles {first_id} and {second_id} are already one profile ({a.id})")
    winner, loser = (a, b) if (a.id or 0) < (b.id or 0) else (b, a)
    _identified(session, [winner, loser])
    snapshot = fold_in_memory(winner, loser, source_priorities(session))
    assert winner.id is not None
    assert loser.id is not None
    merge_id = record_merge(session, secret, winner_id=winner.id, loser_id=loser.id,
                            snapshot=snapshot, kind=kind, value=value, event_id=event_id,
                            actor=actor)
    update_states(session, [winner, loser])
    return MergeResult(merge_id, winner.id, loser.id)


def undo_merge(session: Session, secret: str, merge_id: int, *, actor: str,
               profile_id: int | None = None) -> ProfileMerge:
    """Split a merge: identities back, the loser's snapshot restored, the survivor unfolded."""
    stmt = select(ProfileMerge).where(ProfileMerge.id == merge_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    merge = session.scalars(stmt).first()
    if merge is None or (profile_id is not None and profile_id not in (merge.winner_id, merge.loser_id)):
        raise NotFound(f"No merge with id {merge_id} for this profile")
    if merge.undone_at is not None:
        raise Conflict(f"Merge {merge_id} was already undone")
    snapshot = merge.loser_snapshot or {}
    if not all(k in snapshot for k in ("loser", "winner_before", "merged")):
        raise Conflict(f"Merge {merge_id} has no snapshot to undo it from")
    states = load_states(session, [merge.winner_id, merge.loser_id], lock=True)
    winner, loser = states.get(merge.winner_id), states.get(merge.loser_id)
    if winner is None or loser is None:
        raise NotFound(f"A profile of merge {merge_id} no longer exists")
    if winner.merged_into_id is not None:
        raise Conflict(f"Profile {winner.id} was merged into profile {winner.merged_into_id} "
                       "since; undo that merge first")
    if loser.merged_into_id != winner.id:
        raise Conflict(f"Profile {loser.id} is no longer merged into profile {winner.id}")
    moved = [int(i) for i in merge.moved_identity_ids or []]
    if moved:
        session.execute(update(_IDENTITIES).where(_IDENTITIES.c.id.in_(moved),
                                                  _IDENTITIES.c.profile_id == winner.id)
                        .values(profile_id=loser.id))
    unfold(winner, snapshot["winner_before"], snapshot["loser"], snapshot["merged"])
    loser.restore(snapshot["loser"])
    loser.merged_into = None
    loser.merged_into_id = None
    _identified(session, [winner])
    winner.journey_stage = journey_stage(winner.counters, winner.identified)
    update_states(session, [winner, loser])
    merge.undone_at = utcnow()
    audit.append(session, secret, "unmerge", actor=actor, target=f"profiles:{winner.id}",
                 details={"merge_id": merge.id, "loser_profile_id": loser.id,
                          "identities_moved_back": len(moved)})
    session.flush()
    return merge


def resolve_review(session: Session, secret: str, review_id: int, decision: str, *,
                   user_id: int | None) -> MergeReview:
    """``merge`` the two profiles of an open review, or ``dismiss`` it."""
    stmt = select(MergeReview).where(MergeReview.id == review_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    review = session.scalars(stmt).first()
    if review is None:
        raise NotFound(f"No merge review with id {review_id}")
    if review.status != "open":
        raise Conflict(f"Merge review {review_id} is already {review.status}")
    if decision == "merge":
        merge_profiles(session, secret, review.profile_a_id, review.profile_b_id,
                       actor=audit.actor_ref(user_id), kind=review.identifier_kind,
                       value=review.identifier_value, event_id=review.event_id)
        review.status = "merged"
    else:
        review.status = "dismissed"
    review.resolved_at = utcnow()
    review.resolved_by = user_id
    session.flush()
    return review


__all__ = ["IDENTIFYING_KINDS", "MergeResult", "merge_profiles", "record_merge",
           "resolve_review", "undo_merge"]
