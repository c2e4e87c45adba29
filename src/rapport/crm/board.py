"""Pipeline board: stages in order, their cards and totals per stage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from rapport.crm import access
from rapport.crm.models import Opportunity, Pipeline, PipelineStage
from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS
from rapport.crm.service import Actor, RecordService
from rapport.errors import NotFound


def pipeline_stages(session: Session, pipeline_id: int) -> list[PipelineStage]:
    return list(
        session.scalars(
            select(PipelineStage)
            .where(PipelineStage.pipeline_id == pipeline_id)
            .order_by(PipelineStage.position)
        )
    )


def pipeline_board(
    session: Session, records: RecordService, pipeline_id: int, per_stage: int, filters: list[str],
    *, actor: Actor,
) -> dict[str, Any]:
    """Cards and totals per stage, both limited to the opportunities ``actor`` may see."""
    pipeline = session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(f"No pipeline with id {pipeline_id}")
    opportunities = OBJECTS["opportunities"]
    access.require_right(actor, opportunities, "read")
    totals_stmt = (
        select(Opportunity.stage_id, func.count(), func.coalesce(func.sum(Opportunity.amount), 0))
        .where(Opportunity.pipeline_id == pipeline_id)
        .group_by(Opportunity.stage_id)
    )
    scope = access.scope_clause(actor, opportunities, cast(Table, Opportunity.__table__))
    if scope is not None:
        totals_stmt = totals_stmt.where(scope)
    totals = {stage_id: (count, amount) for stage_id, count, amount in session.execute(totals_stmt)}
    stages = []
    for stage in pipeline_stages(session, pipeline_id):
        query = ListQuery(
            filters=[Filter("stage_id", "eq", str(stage.id)), *[Filter.parse(f) for f in filters]],
            sort=["-amount"],
            limit=per_stage,
        )
        page = records.list(session, "opportunities", query, actor=actor)
        count, amount = totals.get(stage.id, (0, Decimal(0)))
        stages.append({
            "id": stage.id, "name": stage.name, "position": stage.position,
            "probability": stage.probability, "is_won": stage.is_won, "is_lost": stage.is_lost,
            "required_fields": stage.required_fields, "count": count, "amount": Decimal(amount),
            "weighted_amount": (Decimal(amount) * stage.probability / 100).quantize(Decimal("0.01")),
            "cards": [r.values for r in page.items], "next_cursor": page.next_cursor,
        })
    return {
        "pipeline": {"id": pipeline.id, "name": pipeline.name,
                     "baseline_pipeline_id": pipeline.baseline_pipeline_id},
        "stages": stages,
    }
