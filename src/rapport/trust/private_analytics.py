"""Differentially private counts and sums, with a privacy budget per analyst.

The true aggregate is computed in SQL (one row per group), then OpenDP adds noise calibrated
to how much one record can change it: 1 for a count, ``max(|lower|, |upper|)`` for a sum
whose values are clamped to ``[lower, upper]``. Groups come from a declared option list or
a public reference list, never from the data, and every record falls in exactly one group,
so the whole histogram costs one ε (parallel composition). The unit of privacy is one
record. Each answer spends ε from the analyst's budget in the same transaction that records
the query; a query that would overspend is refused and spends nothing. See
docs/private-analytics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, Select, case, cast, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from rapport.config import Settings
from rapport.crm.custom_fields import custom_field_specs
from rapport.crm.models import Pipeline, PipelineStage, Region
from rapport.crm.query import Filter, apply_filters, field_expression, resolve_field
from rapport.crm.registry import (
    KIND_BOOLEAN,
    KIND_DATE,
    KIND_DATETIME,
    KIND_ENUM,
    KIND_INTEGER,
    KIND_MONEY,
    KIND_NUMBER,
    KIND_REFERENCE,
    OBJECTS,
    FieldSpec,
    ObjectSpec,
)
from rapport.errors import (
    ErrorCollector,
    FieldError,
    Forbidden,
    NotFound,
    PrivacyBudgetExhausted,
    ValidationFailed,
)
from rapport.trust import audit
from rapport.trust.actor import Actor
from rapport.trust.models import PrivacyBudget, PrivateQuery, User

QUERY_OBJECTS = ("accounts", "contacts", "leads", "opportunities", "activities", "tickets")
MEASURES = ("count", "sum")
SUM_KINDS = (KIND_MONEY, KIND_NUMBER, KIND_INTEGER)
# Filters: only fields whose values are not personal data, so the query log never holds any.
FILTER_KINDS = (KIND_ENUM, KIND_BOOLEAN, KIND_NUMBER, KIND_INTEGER, KIND_MONEY, KIND_DATE,
                KIND_DATETIME)
FILTER_REFERENCES = frozenset({"regions", "pipelines", "pipeline_stages", "teams", "users",
                               "products"})
# Public lists a histogram may be keyed by (configuration, not data about the records).
GROUP_LISTS = ("regions", "pipelines", "pipeline_stages")
MAX_GROUPS = 200
MAX_FILTERS = 10
MAX_BOUND = 1e12  # beyond this the noise would drown any answer; floats stay exact enough
MIN_EPSILON = 0.001
MAX_TOTAL_EPSILON = 1000.0
CONFIDENCE = 0.95
BUDGET_TOLERANCE = 1e-9  # so ten spends of 0.1 fit a total of 1.0 despite float rounding
RECENT_QUERIES = 10


class PrivateQueryIn(BaseModel):
    """One aggregate to release: a count or a clamped sum, optionally per group."""

    model_config = ConfigDict(extra="forbid")
    object: str = Field(max_length=60, description=f"One of {', '.join(QUERY_OBJECTS)}")
    measure: Literal["count", "sum"] = Field(description="count records or sum a numeric field")
    field: str | None = Field(None, max_length=60,
                              description="For sum: a money, number or integer field")
    lower: float | None = Field(None, allow_inf_nan=False,
                                description="For sum: values below are raised to this bound")
    upper: float | None = Field(None, allow_inf_nan=False,
                                description="For sum: values above are lowered to this bound")
    group_by: str | None = Field(None, max_length=60,
                                 description="An enum field, or region_id / pipeline_id / stage_id")
    filters: list[str] = Field(default_factory=list, max_length=MAX_FILTERS,
                               description="field:op:value on enum, number, date or boolean fields")
    epsilon: float = Field(gt=0, allow_inf_nan=False,
                           description="Privacy loss this answer spends from your budget")


class Cell(BaseModel):
    group: str | int | None = Field(description="Option value or list id; null: no or another value")
    label: str
    value: float | int = Field(description="The noisy count or sum")


class Budget(BaseModel):
    user_id: int
    total: float
    spent: float
    remaining: float


class PrivateResult(BaseModel):
    """A released answer and how to read it."""

    query_id: int
    object: str
    measure: str
    field: str | None
    lower: float | None
    upper: float | None
    group_by: str | None
    filters: list[str]
    epsilon: float
    mechanism: str = Field(description="discrete_laplace (counts) or laplace (sums)")
    sensitivity: float = Field(description="Most one record can change any answer (L1, all groups)")
    noise_scale: float = Field(description="Laplace scale b = sensitivity / epsilon")
    noise_std: float = Field(description="Standard deviation of the noise added to each value")
    error_bound: float = Field(description="|noisy - true| stays below this for 95% of values")
    confidence: float = CONFIDENCE
    rows: list[Cell]
    budget: Budget


class QuerySummary(BaseModel):
    id: int
    created_at: datetime
    epsilon: float
    query: dict[str, Any]


class BudgetView(Budget):
    recent: list[QuerySummary] = Field(default_factory=list)


class BudgetListItem(Budget):
    email: str
    name: str


# ---- validation ----------------------------------------------------------------------------


class _Plan:
    """A validated query: the object, the resolved fields and the parsed filters."""

    def __init__(self, spec: ObjectSpec, custom: dict[str, FieldSpec], query: PrivateQueryIn,
                 value_field: FieldSpec | None, group_field: FieldSpec | None,
                 filters: list[Filter]) -> None:
        self.spec = spec
        self.custom = custom
        self.query = query
        self.value_field = value_field
        self.group_field = group_field
        self.filters = filters

    @property
    def sensitivity(self) -> float:
        if self.query.measure == "count":
            return 1.0
        return max(abs(self.query.lower or 0.0), abs(self.query.upper or 0.0))


def _visible(actor: Actor, f: FieldSpec) -> bool:
    return actor.access.field_access(f.category) != "hidden"


def is_groupable(f: FieldSpec) -> bool:
    if f.kind == KIND_ENUM:
        return bool(f.options)
    return f.kind == KIND_REFERENCE and f.reference in GROUP_LISTS


def is_summable(f: FieldSpec) -> bool:
    return f.kind in SUM_KINDS and not f.category.startswith("system.")


def is_filterable(f: FieldSpec) -> bool:
    if f.kind == KIND_REFERENCE:
        return f.reference in FILTER_REFERENCES
    return f.kind in FILTER_KINDS and not f.category.startswith("system.")


def _plan(session: Session, settings: Settings, actor: Actor, query: PrivateQueryIn) -> _Plan:
    actor.require("analytics.private", "private analytics queries")
    if query.object not in QUERY_OBJECTS:
        raise ValidationFailed("Unknown object", errors=[FieldError(
            "object", f"'{query.object}' cannot be queried; use one of {', '.join(QUERY_OBJECTS)}",
            "unknown_object")])
    spec = OBJECTS[query.object]
    if not actor.access.allows(spec.name, "read"):
        raise Forbidden(f"Your roles do not allow you to read {spec.label.lower()}")
    custom = custom_field_specs(session, spec.name)
    errors = ErrorCollector()

    if not MIN_EPSILON <= query.epsilon <= settings.privacy_query_max_epsilon:
        errors.add("epsilon", f"use a value from {MIN_EPSILON} to "
                   f"{settings.privacy_query_max_epsilon} (RAPPORT_PRIVACY_QUERY_MAX_EPSILON); "
                   "smaller spends less budget and adds more noise", "out_of_range")

    value_field: FieldSpec | None = None
    if query.measure == "sum":
        value_field = _resolve(spec, custom, actor, query.field, "field", is_summable,
                               "a money, number or integer field", errors, required=True)
        _check_bounds(query, errors)
    else:
        for name in ("field", "lower", "upper"):
            if getattr(query, name) is not None:
                errors.add(name, "only for measure 'sum'; leave it out for a count", "not_allowed")

    group_field = _resolve(spec, custom, actor, query.group_by, "group_by", is_groupable,
                           "an enum field or region_id, pipeline_id, stage_id", errors)

    filters: list[Filter] = []
    for index, raw in enumerate(query.filters):
        try:
            flt = Filter.parse(raw)
        except ValidationFailed as exc:
            errors.add(f"filters.{index}", exc.detail)
            continue
        f = _resolve(spec, custom, actor, flt.field, f"filters.{index}", is_filterable,
                     "an enum, number, money, date, boolean or region/pipeline/owner field",
                     errors, required=True)
        if f is not None:
            filters.append(flt)
    errors.raise_if_any("The private query is invalid; see errors")
    plan = _Plan(spec, custom, query, value_field, group_field, filters)
    try:  # operators and values are checked by the shared filter parser
        apply_filters(select(literal(1)), spec, custom, filters)
    except ValidationFailed as exc:
        raise ValidationFailed("Some filters are invalid", errors=[
            FieldError("filters", f"{e.field.removeprefix('filter.')}: {e.message}")
            for e in exc.errors]) from None
    return plan


def _resolve(spec: ObjectSpec, custom: dict[str, FieldSpec], actor: Actor, name: str | None,
             where: str, allowed: Any, wanted: str, errors: ErrorCollector,
             *, required: bool = False) -> FieldSpec | None:
    if not name:
        if required:
            errors.add(where, f"required: name {wanted}", "missing")
        return None
    try:
        f = resolve_field(spec, custom, name)
    except ValueError:
        errors.add(where, f"{spec.label} has no field '{name}'", "unknown_field")
        return None
    if not allowed(f):
        errors.add(where, f"'{name}' is a {f.kind} field; use {wanted}", "wrong_kind")
        return None
    if not _visible(actor, f):
        errors.add(where, f"your roles hide '{name}'", "hidden_field")
        return None
    return f


def _check_bounds(query: PrivateQueryIn, errors: ErrorCollector) -> None:
    hint = ("values are clamped to [lower, upper] and the noise grows with "
            "max(|lower|, |upper|): choose the narrowest range you believe holds the values")
    for name in ("lower", "upper"):
        value = getattr(query, name)
        if value is None:
            errors.add(name, f"required for a sum; {hint}", "missing")
        elif abs(value) > MAX_BOUND:
            errors.add(name, f"at most {MAX_BOUND:g} in absolute value", "out_of_range")
    if query.lower is not None and query.upper is not None and query.lower >= query.upper:
        errors.add("upper", "must be greater than lower", "inverted")


# ---- the true aggregate --------------------------------------------------------------------


def _groups(session: Session, f: FieldSpec | None) -> list[tuple[str | int | None, str]]:
    """The histogram's keys and labels, from a declared list; the last one catches the rest."""
    if f is None:
        return [(None, "All records")]
    if f.kind == KIND_ENUM:
        keys: list[tuple[str | int | None, str]] = [(o, o) for o in f.options]
    elif f.reference == "regions":
        keys = [(r.id, r.name) for r in session.scalars(select(Region).order_by(Region.name))]
    elif f.reference == "pipelines":
        keys = [(p.id, p.name) for p in session.scalars(select(Pipeline).order_by(Pipeline.name))]
    else:
        pipelines = dict(session.execute(select(Pipeline.id, Pipeline.name)).tuples().all())
        stages = session.scalars(
            select(PipelineStage).order_by(PipelineStage.pipeline_id, PipelineStage.position))
        keys = [(s.id, f"{pipelines.get(s.pipeline_id, '?')} / {s.name}") for s in stages]
    if len(keys) + 1 > MAX_GROUPS:
        raise ValidationFailed("Too many groups", errors=[FieldError(
            "group_by", f"'{f.name}' has {len(keys)} values; at most {MAX_GROUPS - 1}")])
    return [*keys, (None, "(none or other)")]


def _value_expression(plan: _Plan) -> ColumnElement[Any]:
    assert plan.value_field is not None  # noqa: S101 - checked by _plan
    lower, upper = float(plan.query.lower or 0.0), float(plan.query.upper or 0.0)
    raw = cast(field_expression(plan.spec, plan.value_field), Float)
    return case((raw < lower, literal(lower, Float)), (raw > upper, literal(upper, Float)),
                else_=raw)


def true_aggregates(session: Session, plan: _Plan,
                    keys: Sequence[tuple[str | int | None, str]]) -> list[float]:
    """The exact count or clamped sum per key (never returned to the caller)."""
    measure: ColumnElement[Any] = (
        func.count() if plan.query.measure == "count" else func.sum(_value_expression(plan)))
    index = {key: i for i, (key, _) in enumerate(keys[:-1])}
    totals = [0.0] * len(keys)
    stmt: Select[Any]
    if plan.group_field is None:
        stmt = select(literal(None), measure).select_from(plan.spec.model)
    else:
        group = field_expression(plan.spec, plan.group_field)
        stmt = select(group, measure).select_from(plan.spec.model).group_by(group)
    stmt = apply_filters(stmt, plan.spec, plan.custom, plan.filters)
    for key, value in session.execute(stmt).tuples():
        totals[index.get(key, len(keys) - 1)] += float(value or 0)
    return totals


# ---- noise (OpenDP) ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _opendp() -> Any:
    """OpenDP, imported on first use (its native library takes ~0.4 s to load)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")  # OpenDP gates measurements whose proofs are still in review
    return dp


def _measurement(measure: str, size: int, scale: float) -> Any:
    dp = _opendp()
    if measure == "count":  # integers: discrete Laplace (the geometric mechanism)
        space = dp.vector_domain(dp.atom_domain(T="i64"), size=size), dp.l1_distance(T="i64")
    else:
        space = (dp.vector_domain(dp.atom_domain(T=float, nan=False), size=size),
                 dp.l1_distance(T=float))
    return dp.m.make_laplace(*space, scale=scale)


def calibrate(measure: str, size: int, sensitivity: float, epsilon: float) -> tuple[Any, float]:
    """A Laplace measurement over the histogram whose certified privacy loss is ≤ ``epsilon``.

    OpenDP's privacy map is the authority: the scale starts at sensitivity / ε and is nudged
    up if float rounding would make the map exceed ε.
    """
    scale = sensitivity / epsilon
    d_in: float | int = 1 if measure == "count" else sensitivity
    for _ in range(50):
        meas = _measurement(measure, size, scale)
        if meas.map(d_in) <= epsilon:
            return meas, scale
        scale = math.nextafter(scale, math.inf) * (1 + 1e-12)
    raise RuntimeError("could not calibrate the noise scale")  # pragma: no cover


def noise_std(measure: str, scale: float) -> float:
    if measure == "count":  # discrete Laplace: Var = 2 e^{-1/b} / (1 - e^{-1/b})^2
        q = math.exp(-1 / scale)
        return math.sqrt(2 * q) / (1 - q)
    return math.sqrt(2) * scale


def error_bound(measure: str, scale: float) -> float:
    alpha = 1 - CONFIDENCE
    dp = _opendp()
    if measure == "count":  # integer errors: the floor keeps the coverage
        return float(math.floor(dp.discrete_laplacian_scale_to_accuracy(scale, alpha)))
    return float(dp.laplacian_scale_to_accuracy(scale, alpha))


def _post_process(measure: str, lower: float | None, upper: float | None,
                  value: float) -> float | int:
    """Clip to values the true answer could take (post-processing costs no privacy)."""
    if measure == "count":
        return max(0, int(value))
    if lower is not None and lower >= 0:
        value = max(0.0, value)
    if upper is not None and upper <= 0:
        value = min(0.0, value)
    return round(value, 2)


# ---- budget --------------------------------------------------------------------------------


def _ensure_budget(session: Session, user_id: int, default: float) -> None:
    """Create the analyst's budget row if missing; safe when two requests race."""
    dialect = session.get_bind().dialect.name
    values = {"user_id": user_id, "epsilon_total": default, "epsilon_spent": 0.0}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(PrivacyBudget).values(**values)
                        .on_conflict_do_nothing(index_elements=["user_id"]))
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(PrivacyBudget).values(**values)
                        .on_conflict_do_nothing(index_elements=["user_id"]))
    elif session.scalar(select(PrivacyBudget.id).where(PrivacyBudget.user_id == user_id)) is None:
        session.execute(insert(PrivacyBudget).values(**values))  # pragma: no cover


def _budget(row: PrivacyBudget | None, user_id: int, default: float) -> Budget:
    total = row.epsilon_total if row else default
    spent = row.epsilon_spent if row else 0.0
    return Budget(user_id=user_id, total=total, spent=round(spent, 9),
                  remaining=round(max(0.0, total - spent), 9))


def _spend(session: Session, settings: Settings, user_id: int, epsilon: float) -> Budget:
    """Take ε from the budget, or refuse: one conditional UPDATE, so racing queries cannot
    both take the last of it (PostgreSQL re-checks the condition after the row lock)."""
    _ensure_budget(session, user_id, settings.privacy_budget_default_epsilon)
    result = session.execute(
        update(PrivacyBudget)
        .where(PrivacyBudget.user_id == user_id,
               PrivacyBudget.epsilon_spent + epsilon <= PrivacyBudget.epsilon_total
               + BUDGET_TOLERANCE)
        .values(epsilon_spent=PrivacyBudget.epsilon_spent + epsilon)
        .execution_options(synchronize_session=False)
    )
    row = session.scalars(select(PrivacyBudget).where(PrivacyBudget.user_id == user_id)
                          .execution_options(populate_existing=True)).one()
    budget = _budget(row, user_id, settings.privacy_budget_default_epsilon)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise PrivacyBudgetExhausted(
            f"This query needs ε = {epsilon:g} but only {budget.remaining:g} of your privacy "
            f"budget ({budget.total:g}) is left; ask for a smaller ε or ask a privacy officer "
            "to raise your budget. Nothing was spent.")
    return budget


def get_budget(session: Session, settings: Settings, user_id: int) -> BudgetView:
    """An analyst's budget and recent queries (the default total until they first query)."""
    row = session.scalar(select(PrivacyBudget).where(PrivacyBudget.user_id == user_id))
    budget = _budget(row, user_id, settings.privacy_budget_default_epsilon)
    recent = session.scalars(select(PrivateQuery).where(PrivateQuery.user_id == user_id)
                             .order_by(PrivateQuery.id.desc()).limit(RECENT_QUERIES))
    return BudgetView(**budget.model_dump(), recent=[
        QuerySummary(id=q.id, created_at=q.created_at, epsilon=q.epsilon, query=q.query or {})
        for q in recent])


def list_budgets(session: Session, settings: Settings, actor: Actor) -> list[BudgetListItem]:
    actor.require("budgets.manage", "managing privacy budgets")
    rows = session.execute(select(PrivacyBudget, User).join(User, User.id == PrivacyBudget.user_id)
                           .order_by(User.email)).tuples()
    default = settings.privacy_budget_default_epsilon
    return [BudgetListItem(**_budget(b, u.id, default).model_dump(), email=u.email, name=u.name)
            for b, u in rows]


def set_budget(session: Session, settings: Settings, actor: Actor, user_id: int,
               epsilon_total: float) -> Budget:
    """Set an analyst's total ε (spent stays; a total below it leaves nothing to spend)."""
    actor.require("budgets.manage", "managing privacy budgets")
    if not (math.isfinite(epsilon_total) and 0 <= epsilon_total <= MAX_TOTAL_EPSILON):
        raise ValidationFailed("Invalid budget", errors=[FieldError(
            "epsilon_total", f"use a number from 0 to {MAX_TOTAL_EPSILON:g}")])
    if session.get(User, user_id) is None:
        raise NotFound(f"No user with id {user_id}")
    _ensure_budget(session, user_id, settings.privacy_budget_default_epsilon)
    row = session.scalars(select(PrivacyBudget).where(PrivacyBudget.user_id == user_id)
                          .with_for_update().execution_options(populate_existing=True)).one()
    previous = row.epsilon_total
    row.epsilon_total = float(epsilon_total)
    session.flush()
    audit.append(session, settings.secret_key, "budget_changed", actor=audit.actor_ref(actor.user_id),
                 target=f"users:{user_id}", details={"epsilon_total": row.epsilon_total,
                                                     "previous_total": previous,
                                                     "epsilon_spent": row.epsilon_spent},
                 network=actor.network)
    return _budget(row, user_id, settings.privacy_budget_default_epsilon)


# ---- the query -----------------------------------------------------------------------------


def run_query(session: Session, settings: Settings, actor: Actor,
              query: PrivateQueryIn) -> PrivateResult:
    """Validate, spend ε, compute, add noise, record and audit — in the caller's transaction.

    The caller commits before showing the answer, so an answer is never seen unless its
    spend is durable. A refused query raises before anything is written.
    """
    plan = _plan(session, settings, actor, query)
    if actor.user_id is None:
        raise Forbidden("Private queries are spent from a user's budget; act as a user")
    keys = _groups(session, plan.group_field)
    budget = _spend(session, settings, actor.user_id, query.epsilon)
    truth = true_aggregates(session, plan, keys)
    measurement, scale = calibrate(query.measure, len(keys), plan.sensitivity, query.epsilon)
    if query.measure == "count":
        noisy: list[float] = [float(v) for v in measurement([int(t) for t in truth])]
    else:
        noisy = [float(v) for v in measurement(truth)]
    del truth  # the exact values never leave this function
    record = {
        "object": query.object, "measure": query.measure, "field": query.field,
        "lower": query.lower, "upper": query.upper, "group_by": query.group_by,
        "filters": list(query.filters), "epsilon": query.epsilon,
    }
    row = PrivateQuery(user_id=actor.user_id, epsilon=query.epsilon, query=record)
    session.add(row)
    session.flush()
    audit.append(session, settings.secret_key, "private_query",
                 actor=audit.actor_ref(actor.user_id), target=f"private_queries:{row.id}",
                 details={"object": query.object, "measure": query.measure, "field": query.field,
                          "group_by": query.group_by, "filters": len(query.filters),
                          "epsilon": query.epsilon, "spent_after": budget.spent},
                 network=actor.network)
    return PrivateResult(
        query_id=row.id, object=query.object, measure=query.measure, field=query.field,
        lower=query.lower, upper=query.upper, group_by=query.group_by,
        filters=list(query.filters), epsilon=query.epsilon,
        mechanism="discrete_laplace" if query.measure == "count" else "laplace",
        sensitivity=plan.sensitivity, noise_scale=scale,
        noise_std=noise_std(query.measure, scale), error_bound=error_bound(query.measure, scale),
        rows=[Cell(group=key, label=label,
                   value=_post_process(query.measure, query.lower, query.upper, value))
              for (key, label), value in zip(keys, noisy, strict=True)],
        budget=budget,
    )


def query_options(session: Session, actor: Actor) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """For forms: per readable object, the fields that may be summed and grouped by."""
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for name in QUERY_OBJECTS:
        if not actor.access.allows(name, "read"):
            continue
        spec = OBJECTS[name]
        fields = [*spec.fields.values(), *custom_field_specs(session, name).values()]
        out[name] = {
            "sum": [(f.name, f.label) for f in fields if is_summable(f) and _visible(actor, f)],
            "group": [(f.name, f.label) for f in fields if is_groupable(f) and _visible(actor, f)],
        }
    return out
