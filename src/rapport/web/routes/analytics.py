"""Private analytics: query with differential privacy, see the budget."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from rapport.crm.service import pydantic_errors
from rapport.errors import FieldError, Forbidden, PrivacyBudgetExhausted, ValidationFailed
from rapport.trust import private_analytics as pa
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for

router = APIRouter()
FORM_FIELDS = ("object", "measure", "field", "lower", "upper", "group_by", "filters", "epsilon")


def _require_analyst(user: Principal) -> None:
    if not user.policy.can("analytics.private"):
        raise Forbidden("Your roles do not allow private analytics queries")


def _render(request: Request, ui: UI, user: Principal, *, submitted: dict[str, str] | None = None,
            result: pa.PrivateResult | None = None, errors: dict[str, str] | None = None,
            general: list[str] | None = None, status: int = 200) -> Response:
    settings = ui.container.settings
    actor = actor_for(user, request)
    with ui.container.session_factory() as session:
        budget = pa.get_budget(session, settings, user.user_id)
        options = pa.query_options(session, actor)
    return ui.render(request, "private_analytics.html", {
        "section": "analytics", "budget": budget, "options": options, "result": result,
        "submitted": submitted or {"object": next(iter(options), ""), "measure": "count",
                                   "epsilon": str(min(0.5, settings.privacy_query_max_epsilon))},
        "errors": errors or {}, "general": general or [],
        "max_epsilon": settings.privacy_query_max_epsilon, "confidence": int(pa.CONFIDENCE * 100),
    }, user=user, status=status)


@router.get("/analytics/private")
def private_analytics_page(request: Request, ui: UI, user: User) -> Response:
    _require_analyst(user)
    return _render(request, ui, user)


def _query_from(submitted: dict[str, str]) -> pa.PrivateQueryIn:
    def number(name: str) -> Any:
        raw = submitted[name].strip()
        return raw or None

    filters = [line.strip() for line in submitted["filters"].splitlines() if line.strip()]
    return pa.PrivateQueryIn.model_validate({
        "object": submitted["object"], "measure": submitted["measure"],
        "field": submitted["field"] or None if submitted["measure"] == "sum" else None,
        "lower": number("lower") if submitted["measure"] == "sum" else None,
        "upper": number("upper") if submitted["measure"] == "sum" else None,
        "group_by": submitted["group_by"] or None, "filters": filters,
        "epsilon": submitted["epsilon"].strip() or None,
    })


def _by_field(errors: list[FieldError], gettext: Any) -> tuple[dict[str, str], list[str]]:
    by_field: dict[str, str] = {}
    general: list[str] = []
    for err in errors:
        name = err.field.split(".", 1)[0]
        if name in FORM_FIELDS:
            message = gettext(err.message)
            by_field[name] = f"{by_field[name]}; {message}" if name in by_field else message
        else:
            general.append(f"{err.field}: {gettext(err.message)}")
    return by_field, general


@router.post("/analytics/private")
def run_private_query(request: Request, ui: UI, user: User, form: Form) -> Response:
    _require_analyst(user)
    display = ui.display(request, user)
    submitted = {k: str(form.get(k) or "")[:2000] for k in FORM_FIELDS}
    try:
        query = _query_from(submitted)
        with ui.container.uow() as uow:
            result = pa.run_query(uow.session, ui.container.settings, actor_for(user, request), query)
            uow.commit()
    except ValidationError as exc:
        errors, general = _by_field(pydantic_errors(exc).errors, display.gettext)
        return _render(request, ui, user, submitted=submitted, errors=errors, general=general,
                       status=422)
    except ValidationFailed as exc:
        errors, general = _by_field(exc.errors, display.gettext)
        return _render(request, ui, user, submitted=submitted, errors=errors,
                       general=general or [display.gettext(exc.detail)], status=422)
    except PrivacyBudgetExhausted as exc:
        return _render(request, ui, user, submitted=submitted, general=[exc.detail], status=409)
    return _render(request, ui, user, submitted=submitted, result=result)


# ---- budgets (privacy officers and admins) ---------------------------------------------------


def _budgets_page(request: Request, ui: UI, user: Principal, *, error: str | None = None,
                  submitted: dict[str, str] | None = None, status: int = 200) -> Response:
    actor = actor_for(user, request)
    with ui.container.session_factory() as session:
        budgets = pa.list_budgets(session, ui.container.settings, actor)
    return ui.render(request, "privacy_budgets.html", {
        "section": "budgets", "budgets": budgets, "error": error,
        "submitted": submitted or {}, "default": ui.container.settings.privacy_budget_default_epsilon,
    }, user=user, status=status)


@router.get("/analytics/budgets")
def budgets_page(request: Request, ui: UI, user: User) -> Response:
    return _budgets_page(request, ui, user)


@router.post("/analytics/budgets")
def set_budget(request: Request, ui: UI, user: User, form: Form) -> Response:
    from sqlalchemy import select
    from starlette.responses import RedirectResponse

    from rapport.crm.normalise import normalise_email
    from rapport.trust.models import User as UserRow

    submitted = {k: str(form.get(k) or "").strip() for k in ("email", "epsilon_total")}
    actor = actor_for(user, request)
    try:
        total = float(submitted["epsilon_total"])
    except ValueError:
        return _budgets_page(request, ui, user, submitted=submitted, status=422,
                             error="The budget must be a number, e.g. 10")
    try:
        email = normalise_email(submitted["email"])
    except ValueError:
        email = ""
    try:
        with ui.container.uow() as uow:
            target = uow.session.scalar(select(UserRow.id).where(UserRow.email == email))
            if target is None:
                return _budgets_page(request, ui, user, submitted=submitted, status=422,
                                     error="No user with that e-mail")
            pa.set_budget(uow.session, ui.container.settings, actor, target, total)
            uow.commit()
    except ValidationFailed as exc:
        message = "; ".join(e.message for e in exc.errors) or exc.detail
        return _budgets_page(request, ui, user, submitted=submitted, status=422, error=message)
    return RedirectResponse("/analytics/budgets?flash=saved", 303)
