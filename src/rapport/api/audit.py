"""The audit log: list with filters, chain verification and a JSON-lines export for a SIEM."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response, StreamingResponse

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.responses import JSONResponse
from rapport.errors import FieldError, ValidationFailed
from rapport.trust import audit

router = APIRouter(tags=["Audit"])

ActionQ = Annotated[str | None, Query(max_length=60, description="One audit action, e.g. export")]
ActorQ = Annotated[str | None, Query(max_length=40, description="e.g. user:12 or system")]
TargetQ = Annotated[str | None, Query(max_length=100,
                                      description="e.g. roles:3, or a person's pseudonym p_…")]
SinceQ = Annotated[str | None, Query(max_length=40, description=(
    "Entries at or after this time: ISO 8601 with an offset, or a date (midnight UTC)"))]
UntilQ = Annotated[str | None, Query(max_length=40, description=(
    "Entries before this time (exclusive); same forms as since"))]


def _filters(action: str | None, actor: str | None, target: str | None, since: str | None,
             until: str | None) -> audit.AuditFilter:
    flt = audit.AuditFilter(
        action=audit.check_action(action), actor=actor or None, target=target or None,
        since=audit.parse_time(since, "since") if since else None,
        until=audit.parse_time(until, "until") if until else None,
    )
    if flt.since and flt.until and flt.since >= flt.until:
        raise ValidationFailed("since must be earlier than until",
                               errors=[FieldError("until", "not after since")])
    return flt


def _cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        raise ValidationFailed("cursor must be the next_cursor of a previous page",
                               errors=[FieldError("cursor", "not a cursor from this list")])
    return int(cursor)


@router.get("/audit", summary="List audit entries")
def list_audit(
    session: SessionDep,
    actor: ActorDep,
    action: ActionQ = None,
    actor_ref: Annotated[str | None, Query(alias="actor", max_length=40,
                                           description="e.g. user:12 or system")] = None,
    target: TargetQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    cursor: Annotated[str | None, Query(max_length=40, description="next_cursor of the "
                                        "previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Newest first, keyset-paginated by id: pages stay stable while entries are appended."""
    actor.require("audit.read", "reading the audit log")
    filters = _filters(action, actor_ref, target, since, until)
    entries, next_cursor = audit.list_entries(session, filters, before_id=_cursor(cursor),
                                              limit=limit)
    return JSONResponse({
        "items": [audit.entry_json(e) for e in entries],
        "next_cursor": str(next_cursor) if next_cursor is not None else None,
    })


@router.get("/audit/verify", summary="Verify the audit log's hash chain")
def verify_audit(session: SessionDep, actor: ActorDep, container: ContainerDep) -> Response:
    """Walks the whole chain (~25 s per million entries); lists the first 1,000 problems."""
    actor.require("audit.read", "verifying the audit log")
    report = audit.verify(session, container.settings.secret_key)
    return JSONResponse(report.as_json())


@router.get("/audit/export", summary="Export audit entries as JSON lines",
            response_class=StreamingResponse)
def export_audit(
    container: ContainerDep,
    actor: ActorDep,
    action: ActionQ = None,
    actor_ref: Annotated[str | None, Query(alias="actor", max_length=40,
                                           description="e.g. user:12 or system")] = None,
    target: TargetQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
) -> Response:
    """One entry per line (application/x-ndjson), oldest first, hashes included.

    The export is audited (action ``export``, object ``audit_log``, the count) and committed
    before the first line is sent; it covers the entries that existed at that moment.
    """
    actor.require("audit.read", "exporting the audit log")
    filters = _filters(action, actor_ref, target, since, until)
    with container.uow() as uow:
        pinned, count = audit.begin_export(
            uow.session, container.settings.secret_key, filters,
            actor=audit.actor_ref(actor.user_id), network=actor.network, via=actor.source)
        uow.commit()

    def lines() -> Iterator[bytes]:
        with container.session_factory() as session:
            yield from audit.export_lines(session, pinned)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="audit-log-{stamp}.jsonl"',
        "X-Entry-Count": str(count),
    })
