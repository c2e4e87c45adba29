"""Differentially private aggregates with a per-analyst budget (issue 3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.idempotency import run_idempotent
from rapport.api.records import RecordId
from rapport.api.responses import JSONResponse
from rapport.trust import private_analytics as pa

router = APIRouter(tags=["Private analytics"])


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epsilon_total: float = Field(ge=0, le=pa.MAX_TOTAL_EPSILON, allow_inf_nan=False,
                                 description="The analyst's total ε; what they spent stays spent")


@router.post("/analytics/private", summary="Release a differentially private count or sum",
             responses={409: {"description": "privacy_budget_exhausted: nothing was spent"}})
def private_query(
    body: pa.PrivateQueryIn, container: ContainerDep, actor: ActorDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Spends ``epsilon`` from your budget; a retry with the same Idempotency-Key replays the
    first answer without spending again."""
    with container.uow() as uow:
        return run_idempotent(
            uow, actor.user_id or 0, idempotency_key, ["analytics.private", body.model_dump()],
            lambda: (200, pa.run_query(uow.session, container.settings, actor, body)
                     .model_dump(mode="json")),
            container.settings.idempotency_hours,
        )


@router.get("/analytics/budget", summary="My privacy budget and recent private queries")
def my_budget(container: ContainerDep, session: SessionDep, actor: ActorDep) -> Response:
    actor.require("analytics.private", "private analytics queries")
    view = pa.get_budget(session, container.settings, actor.user_id or 0)
    return JSONResponse(view.model_dump(mode="json"))


@router.get("/analytics/budgets", summary="List analysts' privacy budgets")
def list_budgets(container: ContainerDep, session: SessionDep, actor: ActorDep) -> Response:
    items = pa.list_budgets(session, container.settings, actor)
    return JSONResponse({"items": [i.model_dump(mode="json") for i in items],
                         "default_total": container.settings.privacy_budget_default_epsilon})


@router.put("/analytics/budgets/{user_id}", summary="Set an analyst's total privacy budget")
def set_budget(user_id: RecordId, body: BudgetIn, container: ContainerDep,
               actor: ActorDep) -> Response:
    with container.uow() as uow:
        budget = pa.set_budget(uow.session, container.settings, actor, user_id, body.epsilon_total)
        uow.commit()
    return JSONResponse(budget.model_dump(mode="json"))
