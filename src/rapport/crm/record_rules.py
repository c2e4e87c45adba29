"""Business rules per object that run inside every write (pipelines, tasks, tickets, quotes)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.crm.models import Pipeline, PipelineStage, Quote, QuoteLine
from rapport.crm.registry import ObjectSpec
from rapport.db.base import utcnow
from rapport.errors import Conflict, ErrorCollector, ValidationFailed

MAX_AMOUNT = Decimal("9999999999999999.99")  # the largest NUMERIC(18, 2)

BeforeWrite = Callable[
    [Session, dict[str, Any], dict[str, Any] | None, ErrorCollector, str, Settings], None
]


def _opportunity(
    session: Session,
    values: dict[str, Any],
    current: dict[str, Any] | None,
    errors: ErrorCollector,
    prefix: str,
    settings: Settings,
) -> None:
    merged = {**(current or {}), **values}
    if current is None and not values.get("currency"):
        values["currency"] = settings.default_currency
    pipeline_id = merged.get("pipeline_id")
    if pipeline_id is None:
        pipeline_id = session.scalar(
            select(Pipeline.id)
            .where(Pipeline.object_type == "opportunity")
            .order_by(Pipeline.is_default.desc(), Pipeline.id)
            .limit(1)
        )
        if pipeline_id is None:
            errors.add(prefix + "pipeline_id", "no opportunity pipeline exists; create one first")
            return
        values["pipeline_id"] = pipeline_id
    stage_id = merged.get("stage_id")
    if stage_id is None or ("pipeline_id" in values and "stage_id" not in values and current):
        stage_id = session.scalar(
            select(PipelineStage.id)
            .where(PipelineStage.pipeline_id == pipeline_id)
            .order_by(PipelineStage.position)
            .limit(1)
        )
        values["stage_id"] = stage_id
    stage = session.get(PipelineStage, stage_id) if stage_id else None
    if stage is None:
        errors.add(prefix + "stage_id", "the pipeline has no stages")
        return
    if stage.pipeline_id != pipeline_id:
        errors.add(prefix + "stage_id", f"stage {stage_id} belongs to another pipeline")
        return
    stage_changed = current is None or current.get("stage_id") != stage.id
    if stage_changed:
        if "probability" not in values:
            values["probability"] = stage.probability
        values["status"] = "won" if stage.is_won else "lost" if stage.is_lost else "open"
        merged = {**(current or {}), **values}
        for required in stage.required_fields or []:
            if merged.get(required) in (None, "") and (merged.get("custom") or {}).get(required) in (None, ""):
                errors.add(prefix + required, f"required to enter stage '{stage.name}'", "required_for_stage")


def _task(session: Session, values: dict[str, Any], current: dict[str, Any] | None,
          errors: ErrorCollector, prefix: str, settings: Settings) -> None:
    if "status" in values:
        values["completed_at"] = utcnow() if values["status"] == "done" else None


def _ticket(session: Session, values: dict[str, Any], current: dict[str, Any] | None,
            errors: ErrorCollector, prefix: str, settings: Settings) -> None:
    if "status" in values:
        values["resolved_at"] = utcnow() if values["status"] in ("solved", "closed") else None


def _quote_line(session: Session, values: dict[str, Any], current: dict[str, Any] | None,
                errors: ErrorCollector, prefix: str, settings: Settings) -> None:
    merged = {**(current or {}), **values}
    quantity = Decimal(merged.get("quantity") or 1)
    price = Decimal(merged.get("unit_price") or 0)
    discount = Decimal(merged.get("discount_pct") or 0)
    line_total = quantity * price * (Decimal(100) - discount) / Decimal(100)
    if line_total > MAX_AMOUNT:  # NUMERIC(18, 2) would overflow
        errors.add(prefix + "line_total", f"quantity × unit price exceeds {MAX_AMOUNT}", "too_large")
        return
    values["line_total"] = line_total.quantize(Decimal("0.01"))


def _currency_default(session: Session, values: dict[str, Any], current: dict[str, Any] | None,
                      errors: ErrorCollector, prefix: str, settings: Settings) -> None:
    if current is None and not values.get("currency"):
        values["currency"] = settings.default_currency


BEFORE_WRITE: dict[str, BeforeWrite] = {
    "opportunities": _opportunity,
    "tasks": _task,
    "tickets": _ticket,
    "quote_lines": _quote_line,
    "quotes": _currency_default,
    "price_lists": _currency_default,
}


def before_write(
    session: Session,
    spec: ObjectSpec,
    values: dict[str, Any],
    current: dict[str, Any] | None,
    errors: ErrorCollector,
    prefix: str,
    settings: Settings,
) -> None:
    rule = BEFORE_WRITE.get(spec.name)
    if rule is not None:
        rule(session, values, current, errors, prefix, settings)


def after_write(session: Session, spec: ObjectSpec, written: list[dict[str, Any]]) -> None:
    if spec.name == "quote_lines":
        for quote_id in {w.get("quote_id") for w in written if w.get("quote_id")}:
            total = session.scalar(
                select(func.coalesce(func.sum(QuoteLine.line_total), 0)).where(
                    QuoteLine.quote_id == quote_id
                )
            )
            if total is not None and total > MAX_AMOUNT:  # NUMERIC(18, 2) would overflow
                raise ValidationFailed(f"The total of quote {quote_id} would exceed {MAX_AMOUNT}")
            session.execute(update(Quote).where(Quote.id == quote_id).values(total=total))


def before_delete(session: Session, spec: ObjectSpec, values: dict[str, Any]) -> None:
    """Refuse deletes that would orphan records which cannot exist alone."""
    if spec.name in ("pipelines", "pipeline_stages"):
        from rapport.crm.models import Opportunity

        column = Opportunity.pipeline_id if spec.name == "pipelines" else Opportunity.stage_id
        in_use = session.scalar(select(func.count()).where(column == values["id"]).limit(1))
        if in_use:
            raise Conflict(
                f"{spec.singular} {values['id']} still has opportunities; move them first"
            )
