"""The home page (counts and my work) and search across every object."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS, WORK_OBJECTS
from rapport.crm.service import Page
from rapport.web.deps import UI, User, actor_for

router = APIRouter()


def _my_open_tasks(user_id: int) -> ListQuery:
    return ListQuery(
        filters=[Filter("assignee_id", "eq", str(user_id)),
                 Filter("status", "in", "open,in_progress")],
        sort=["due_at"], limit=5,
    )


@router.get("/")
def home(request: Request, ui: UI, user: User) -> Response:
    records = ui.container.records
    actor = actor_for(user, request)
    with ui.container.session_factory() as session:
        counts = []
        for name in WORK_OBJECTS:
            if not actor.access.allows(name, "read"):
                continue
            page = records.list(session, name, ListQuery(limit=1), actor=actor, observe=False)
            counts.append({"object": OBJECTS[name], "count": page.count, "capped": page.count_capped})
        tasks = (records.list(session, "tasks", _my_open_tasks(user.user_id), actor=actor)
                 if actor.access.allows("tasks", "read") else Page([], None, 0, False))
    return ui.render(request, "home.html", {"counts": counts, "tasks": tasks, "section": "home"},
                     user=user)


@router.get("/search")
def search(
    request: Request, ui: UI, user: User,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    results: list[dict[str, Any]] = []
    if q.strip():
        actor = actor_for(user, request)
        with ui.container.session_factory() as session:
            for name in WORK_OBJECTS:
                spec = OBJECTS[name]
                if spec.search_table is None or not actor.access.allows(name, "read"):
                    continue
                page = ui.container.records.list(session, name, ListQuery(q=q, limit=5), actor=actor)
                if page.items:
                    results.append({"object": spec, "page": page})
    return ui.render(request, "search.html", {"q": q, "results": results, "section": "search"},
                     user=user)
