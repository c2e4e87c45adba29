"""Security alerts from the anomaly detector; review and unlock (issue 3)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.idempotency import run_idempotent
from rapport.api.records import RecordId
from rapport.api.responses import JSONResponse
from rapport.crm.schemas import CleanStr
from rapport.trust import anomaly

router = APIRouter(tags=["Security"])
WHAT = "reviewing security alerts"


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: CleanStr = Field(
        min_length=1, max_length=2000,
        description="What the review found, e.g. 'quarterly export agreed with the manager'")
    unlock: bool = Field(False, description="Also unlock the user (their access so far is "
                         "accepted, so it does not lock the account again)")


@router.get("/security/alerts", summary="List security alerts, newest first")
def list_alerts(
    session: SessionDep, actor: ActorDep,
    status: Annotated[Literal["open", "resolved"] | None, Query(description="open or resolved")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=20, description="next_cursor of the previous page")] = None,
) -> Response:
    actor.require("security.manage", WHAT)
    items, next_cursor = anomaly.list_alerts(session, status=status, limit=limit, cursor=cursor)
    return JSONResponse({"items": items, "next_cursor": next_cursor,
                         "open": anomaly.count_open(session)})


@router.get("/security/alerts/{alert_id}", summary="Read a security alert")
def get_alert(alert_id: RecordId, session: SessionDep, actor: ActorDep) -> Response:
    actor.require("security.manage", WHAT)
    return JSONResponse(anomaly.get_alert(session, alert_id))


@router.post("/security/alerts/{alert_id}/resolve",
             summary="Resolve a security alert with a note; optionally unlock its user")
def resolve_alert(
    alert_id: RecordId, body: ResolveIn, container: ContainerDep, actor: ActorDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    actor.require("security.manage", WHAT)
    with container.uow() as uow:
        return run_idempotent(
            uow, actor.user_id or 0, idempotency_key, ["resolve_alert", alert_id, body.model_dump()],
            lambda: (200, anomaly.resolve_alert(
                uow.session, container.settings, actor.user_id, alert_id, body.resolution,
                unlock=body.unlock)),
            container.settings.idempotency_hours,
        )


@router.get("/security/baselines/{user_id}",
            summary="A user's access baseline, ceilings and current counts (for a review)")
def get_baseline(user_id: RecordId, container: ContainerDep, session: SessionDep,
                 actor: ActorDep) -> Response:
    actor.require("security.manage", WHAT)
    return JSONResponse(anomaly.baseline_report(session, container.settings, user_id))
