"""The opportunity pipeline board: a column per stage, cards moved by drag and drop."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from rapport.crm.board import pipeline_board
from rapport.crm.query import Filter, ListQuery
from rapport.errors import NotFound, ValidationFailed, VersionConflict
from rapport.trust.actor import Actor
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.display import Display
from rapport.web.rendering import WebUI

router = APIRouter()
CARDS_PER_STAGE = 50


def _pipelines(ui: WebUI, session: Session, actor: Actor) -> list[dict[str, Any]]:
    page = ui.container.records.list(session, "pipelines", ListQuery(
        filters=[Filter("object_type", "eq", "opportunity")], sort=["-is_default", "name"],
        limit=200,
    ), actor=actor, observe=False)
    return [r.values for r in page.items]


def _board_context(ui: WebUI, session: Session, display: Display, pipeline_id: int,
                   ) -> dict[str, Any]:
    records = ui.container.records
    board = pipeline_board(session, records, pipeline_id, CARDS_PER_STAGE, [], actor=display.actor)
    account_ids = {c["account_id"] for s in board["stages"] for c in s["cards"] if c["account_id"]}
    accounts = {i: str(r.values["title"])
                for i, r in records.get_many(session, "accounts", list(account_ids),
                                             actor=display.actor).items()}
    default = ui.container.settings.default_currency
    for stage in board["stages"]:
        stage["by_currency"] = _totals_by_currency(stage, default)
    return {"board": board, "accounts": accounts, "display": display}


def _totals_by_currency(stage: dict[str, Any], default: str) -> list[tuple[str, Decimal]]:
    """Per-currency sums when a stage mixes currencies (and all its cards are loaded)."""
    sums: dict[str, Decimal] = {}
    for card in stage["cards"]:
        if card["amount"] is not None:
            currency = card["currency"] or default
            sums[currency] = sums.get(currency, Decimal(0)) + Decimal(card["amount"])
    if set(sums) <= {default} or stage["count"] > len(stage["cards"]):
        return []
    return sorted(sums.items())


@router.get("/board")
def board_home(request: Request, ui: UI, user: User) -> Response:
    with ui.container.session_factory() as session:
        pipelines = _pipelines(ui, session, actor_for(user, request))
    if not pipelines:
        raise NotFound("There is no opportunity pipeline yet; an administrator can create one "
                       "through the API (POST /api/v1/pipelines)")
    return RedirectResponse(f"/board/{pipelines[0]['id']}", 303)


@router.get("/board/{pipeline_id:int}")
def board_page(pipeline_id: int, request: Request, ui: UI, user: User) -> Response:
    display = ui.display(request, user)
    with ui.container.session_factory() as session:
        context = _board_context(ui, session, display, pipeline_id)
        context["pipelines"] = _pipelines(ui, session, display.actor)
    return ui.render(request, "board.html", {**context, "section": "board"}, user=user)


def _move_errors(display: Display, exc: ValidationFailed | VersionConflict) -> list[str]:
    from rapport.crm.registry import OBJECTS

    fields = OBJECTS["opportunities"].fields
    messages = []
    for err in exc.errors:
        spec = fields.get(err.field)
        label = display.label(spec) if spec else err.field
        messages.append(f"{label}: {display.error(err)}")
    return messages or [display.gettext(exc.detail)]


def _render_columns(ui: WebUI, request: Request, user: Principal, display: Display,
                    pipeline_id: int, errors: list[str], moved: dict[str, Any] | None) -> Response:
    with ui.container.session_factory() as session:
        context = _board_context(ui, session, display, pipeline_id)
    return ui.render(request, "partials/board_columns.html",
                     {**context, "errors": errors, "moved": moved}, user=user,
                     status=422 if errors else 200)


@router.patch("/board/opportunities/{opportunity_id:int}")
@router.post("/board/opportunities/{opportunity_id:int}")
def move_card(opportunity_id: int, request: Request, ui: UI, user: User, form: Form) -> Response:
    """Move a card to another stage; answers the re-rendered columns (with any errors)."""
    display = ui.display(request, user)
    raw_stage = str(form.get("stage_id") or "")
    if not raw_stage.isdigit():
        raise ValidationFailed("stage_id must be a stage id")
    errors: list[str] = []
    with ui.container.uow() as uow:
        record = ui.container.records.get(uow.session, "opportunities", opportunity_id,
                                          actor=display.actor)
        try:
            ui.container.records.update(uow, actor_for(user, request), "opportunities", opportunity_id,
                                        {"stage_id": int(raw_stage)})
            uow.commit()
        except (ValidationFailed, VersionConflict) as exc:
            uow.rollback()
            errors = _move_errors(display, exc)
    moved = {"id": opportunity_id, "title": record.values["title"]}
    return _render_columns(ui, request, user, display, int(record.values["pipeline_id"]), errors,
                           moved)
