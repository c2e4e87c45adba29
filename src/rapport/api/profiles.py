"""Customer profiles (the data hub's live profile): read, look up, timeline, identity graph,
undo a merge, and the review queue of merges the guards refused. See docs/profiles.md.

Reading a profile needs the right to read its linked contact or lead (record scope applies),
or a role reading ``profiles`` with scope ``all``; otherwise the answer is 404. Merging,
undoing merges and the review queue need the ``profiles.merge`` capability.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.responses import JSONResponse
from rapport.errors import ValidationFailed
from rapport.identity import merges
from rapport.identity.identifiers import parse_lookup
from rapport.profiles import service
from rapport.trust import audit

router = APIRouter(tags=["Profiles"])
MAX_ID = 2**63 - 1
WHAT_MERGE = "merging customer profiles (profiles.merge)"
ProfileId = Annotated[int, Path(ge=1, le=MAX_ID, description="Profile id (merged ids keep working)")]
MergeId = Annotated[int, Path(ge=1, le=MAX_ID, description="Merge id (from the identity graph)")]
ReviewId = Annotated[int, Path(ge=1, le=MAX_ID, description="Merge review id")]
Limit = Annotated[int, Query(ge=1, le=service.MAX_PAGE, description="Page size")]


@router.get("/profiles", summary="Look a profile up by an identifier")
def lookup_profile(
    identifier: Annotated[str, Query(min_length=3, max_length=400, description=(
        "kind:value, kind one of user_id, anonymous_id, email, phone, fingerprint, contact_id, "
        "lead_id, external:<source id>; e.g. email:ana@example.com"))],
    session: SessionDep, container: ContainerDep, actor: ActorDep,
) -> Response:
    wanted = parse_lookup(identifier, container.settings.default_phone_region)
    found = service.readable(container.records, session, actor, service.lookup(session, wanted))
    return JSONResponse(service.profile_json(actor, found))


@router.get("/profiles/{profile_id}", summary="Read a profile")
def get_profile(profile_id: ProfileId, session: SessionDep, container: ContainerDep,
                actor: ActorDep) -> Response:
    """A merged profile id answers with its survivor (``merged`` true, ``id`` the survivor)."""
    found = service.readable(container.records, session, actor, profile_id)
    return JSONResponse(service.profile_json(actor, found))


@router.get("/profiles/{profile_id}/timeline", summary="Events and CRM activities of a profile")
def profile_timeline(
    profile_id: ProfileId, session: SessionDep, container: ContainerDep, actor: ActorDep,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> Response:
    found = service.readable(container.records, session, actor, profile_id)
    return JSONResponse(service.timeline(container.records, session, actor, found,
                                         limit=limit, cursor=cursor))


@router.get("/profiles/{profile_id}/identities", summary="Identity graph of a profile")
def profile_identities(profile_id: ProfileId, session: SessionDep, container: ContainerDep,
                       actor: ActorDep) -> Response:
    found = service.readable(container.records, session, actor, profile_id)
    return JSONResponse(service.identity_graph(session, actor, found))


@router.post("/profiles/{profile_id}/merges/{merge_id}/undo", summary="Undo a merge of a profile")
def undo_profile_merge(profile_id: ProfileId, merge_id: MergeId, container: ContainerDep,
                       actor: ActorDep) -> Response:
    actor.require("profiles.merge", WHAT_MERGE)
    with container.uow() as uow:
        service.readable(container.records, uow.session, actor, profile_id)
        merge = merges.undo_merge(uow.session, container.settings.secret_key, merge_id,
                                  actor=audit.actor_ref(actor.user_id),
                                  profile_id=profile_id)
        uow.commit()
        return JSONResponse({"merge_id": merge.id, "winner_id": merge.winner_id,
                             "loser_id": merge.loser_id, "undone_at": merge.undone_at.isoformat()
                             if merge.undone_at else None})


@router.get("/merge-reviews", summary="Merges the guards refused, waiting for a decision")
def list_merge_reviews(
    session: SessionDep, actor: ActorDep, limit: Limit = 50,
    status: Annotated[str, Query(max_length=12, description="open, merged or dismissed")] = "open",
    cursor: Annotated[str | None, Query(max_length=20, description="next_cursor of the previous page")] = None,
) -> Response:
    actor.require("profiles.merge", WHAT_MERGE)
    if status not in merges.REVIEW_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(merges.REVIEW_STATUSES)}")
    if cursor is not None and not (cursor.isascii() and cursor.isdigit()):
        raise ValidationFailed("The cursor is invalid; start again without it")
    return JSONResponse(service.list_reviews(session, actor, status=status, limit=limit,
                                             after=int(cursor) if cursor else None))


def _decide(review_id: int, decision: str, container: ContainerDep, actor: ActorDep) -> Response:
    actor.require("profiles.merge", WHAT_MERGE)
    with container.uow() as uow:
        review = merges.resolve_review(uow.session, container.settings.secret_key, review_id,
                                       decision, user_id=actor.user_id)
        body = service.review_json(actor, review)
        uow.commit()
    return JSONResponse(body)


@router.post("/merge-reviews/{review_id}/merge", summary="Merge the two profiles of a review")
def merge_review(review_id: ReviewId, container: ContainerDep, actor: ActorDep) -> Response:
    return _decide(review_id, "merge", container, actor)


@router.post("/merge-reviews/{review_id}/dismiss", summary="Keep the two profiles of a review apart")
def dismiss_review(review_id: ReviewId, container: ContainerDep, actor: ActorDep) -> Response:
    return _decide(review_id, "dismiss", container, actor)
