"""Data health of the customer data hub (issue 4): figures overall and per source."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.records import RecordId
from rapport.api.responses import JSONResponse
from rapport.governance import health

router = APIRouter(tags=["Data health"])

Hours = Annotated[float | None, Query(
    gt=0, le=health.MAX_HOURS, allow_inf_nan=False,
    description=f"Window length in hours, ending now (default {health.DEFAULT_HOURS})")]
LateAfter = Annotated[int | None, Query(
    ge=1, le=60 * 24 * 30,
    description="An event is late when its timestamp is older than its arrival by more than "
    f"this many minutes (default {health.DEFAULT_LATE_MINUTES})")]


@router.get("/health", summary="Data health: overall and per source",
            responses={403: {"description": "needs the health.read capability"}})
def read_health(container: ContainerDep, session: SessionDep, actor: ActorDep,
                hours: Hours = None, late_after_minutes: LateAfter = None) -> Response:
    """Event volume, validity, dead-letter reasons, duplicates, late events, clock skew,
    profile update latency, stitch rate, merge anomalies, CRM field completeness and
    freshness (see docs/health.md)."""
    window = health.make_window(hours, late_after_minutes)
    report = health.health_report(session, actor, container.settings, window)
    return JSONResponse(report.model_dump(mode="json"))


@router.get("/health/sources/{source_id}", summary="Data health of one source",
            responses={403: {"description": "needs the health.read capability"},
                       404: {"description": "no such source"}})
def read_source_health(source_id: RecordId, session: SessionDep, actor: ActorDep,
                       hours: Hours = None, late_after_minutes: LateAfter = None) -> Response:
    window = health.make_window(hours, late_after_minutes)
    return JSONResponse(health.source_health(session, actor, window, source_id)
                        .model_dump(mode="json"))
