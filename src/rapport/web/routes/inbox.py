"""The task inbox: my open tasks, overdue first, marked done in one click."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS
from rapport.web.deps import UI, Form, User, actor_for, is_htmx
from rapport.web.display import collect_titles

router = APIRouter()
INBOX_LIMIT = 200
LINK_FIELDS = ("account_id", "contact_id", "lead_id", "opportunity_id", "ticket_id")


@router.get("/inbox")
def inbox(request: Request, ui: UI, user: User) -> Response:
    display = ui.display(request, user)
    records = ui.container.records
    query = ListQuery(
        filters=[Filter("assignee_id", "eq", str(user.user_id)),
                 Filter("status", "in", "open,in_progress")],
        sort=["due_at"], limit=INBOX_LIMIT,
    )
    with ui.container.session_factory() as session:
        page = records.list(session, "tasks", query, actor=display.actor)
        fields = [OBJECTS["tasks"].fields[name] for name in LINK_FIELDS]
        display.titles = collect_titles(session, records, fields, [t.values for t in page.items],
                                        display.actor)
    overdue = [t for t in page.items if display.fmt.is_overdue(t.values.get("due_at"))]
    upcoming = [t for t in page.items if t not in overdue]
    return ui.render(request, "inbox.html", {
        "overdue": overdue, "upcoming": upcoming, "page": page, "display": display,
        "link_fields": fields, "section": "inbox",
    }, user=user)


@router.post("/inbox/{task_id:int}/done")
def mark_done(task_id: int, request: Request, ui: UI, user: User, form: Form) -> Response:
    with ui.container.uow() as uow:
        ui.container.records.update(uow, actor_for(user, request), "tasks", task_id, {"status": "done"})
        uow.commit()
    if is_htmx(request):
        return Response("", status_code=200)
    return RedirectResponse("/inbox?flash=task_done", 303)
