"""The audit log viewer: filters, newest-first pages, chain verification, JSON-lines download."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
from babel.dates import format_datetime
from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from rapport.errors import RapportError
from rapport.trust import audit
from rapport.trust.auth import Principal
from rapport.trust.models import User as UserRow
from rapport.web.deps import UI, User, actor_for, is_htmx
from rapport.web.formatting import zone
from rapport.web.i18n import N_
from rapport.web.rendering import query_string

router = APIRouter()
WHAT = "reading the audit log"
PAGE_SIZE = 50
SHOWN_PROBLEMS = 200
SUMMARY_CHARS = 90


def _local_day(value: str, tz_name: str, *, end: bool) -> datetime | None:
    """A date from ``<input type=date>`` as the start (or end) of that day in the user's zone."""
    day = date.fromisoformat(value)
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=zone(tz_name)).astimezone(UTC)


def _summary(details: dict[str, Any]) -> tuple[str, str | None]:
    """``key=value, …`` on one line; the pretty JSON as well when the line had to be cut."""
    parts = []
    for key, value in sorted(details.items()):  # JSONB reorders keys: sort on both databases
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        parts.append(f"{key}={text}")
    line = ", ".join(parts)
    if len(line) <= SUMMARY_CHARS:
        return line, None
    full = orjson.dumps(details, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return line[: SUMMARY_CHARS - 1] + "…", full


def _user_names(ui: UI, entries: list[audit.Entry]) -> dict[str, str]:
    ids = {int(e.actor[5:]) for e in entries if e.actor.startswith("user:") and e.actor[5:].isdigit()}
    if not ids:
        return {}
    with ui.container.session_factory() as session:
        rows = session.execute(select(UserRow.id, UserRow.name).where(UserRow.id.in_(ids)))
        return {f"user:{row.id}": row.name for row in rows}


def _render(request: Request, ui: UI, user: Principal, *, report: audit.VerifyReport | None,
            fragment: bool = False) -> Response:
    params = request.query_params
    form = {k: (params.get(k) or "").strip()[:100] for k in ("action", "actor", "target", "from",
                                                             "to", "cursor")}
    display = ui.display(request, user)
    errors: list[str] = []
    filters = audit.AuditFilter()
    cursor: int | None = None
    try:
        since = _local_day(form["from"], user.timezone, end=False) if form["from"] else None
        until = _local_day(form["to"], user.timezone, end=True) if form["to"] else None
    except ValueError:
        errors.append(display.gettext(N_("Dates must look like 2026-01-31.")))
        since = until = None
    try:
        filters = audit.AuditFilter(action=audit.check_action(form["action"]),
                                    actor=form["actor"] or None, target=form["target"] or None,
                                    since=since, until=until)
    except RapportError:
        errors.append(display.gettext(N_("Choose an action from the list.")))
    if form["cursor"].isdigit() and len(form["cursor"]) < 19:
        cursor = int(form["cursor"])
    entries: list[audit.Entry] = []
    next_cursor: int | None = None
    if not fragment:
        with ui.container.session_factory() as session:
            entries, next_cursor = audit.list_entries(session, filters, before_id=cursor,
                                                      limit=PAGE_SIZE)
    names = _user_names(ui, entries)
    fmt = display.fmt
    rows = []
    for e in entries:
        summary, full = _summary(e.details)
        rows.append({
            "id": e.id, "action": e.action, "actor": e.actor, "actor_name": names.get(e.actor),
            "target": e.target, "network": e.network, "summary": summary, "full": full,
            "at_utc": e.at.isoformat(timespec="seconds"),
            "at": format_datetime(e.at, "medium", tzinfo=fmt.tz, locale=fmt.locale),
        })
    keep = {k: form[k] for k in ("action", "actor", "target", "from", "to")}
    export_params = {**filters.as_details()}
    return ui.render(request, "audit.html", {
        "section": "audit", "fragment": fragment, "form": form, "errors": errors,
        "actions": sorted(audit.ACTIONS), "rows": rows, "report": report,
        "problems": report.issues[:SHOWN_PROBLEMS] if report else [],
        "older": query_string({**keep, "cursor": next_cursor}) if next_cursor else None,
        "newest": query_string(keep) if cursor is not None else None,
        "filtered": any(keep.values()),
        "export_url": "/api/v1/audit/export" + query_string(export_params),
        "verify_url": "/admin/audit/verify",
    }, user=user)


@router.get("/admin/audit")
def audit_page(request: Request, ui: UI, user: User) -> Response:
    """Filters come from the query string (action, actor, target, from, to, cursor)."""
    actor_for(user, request).require("audit.read", WHAT)
    return _render(request, ui, user, report=None)


@router.get("/admin/audit/verify")
def verify_chain(request: Request, ui: UI, user: User) -> Response:
    """Walk the chain; HTMX gets the result panel, a plain browser the page with it."""
    actor_for(user, request).require("audit.read", "verifying the audit log")
    with ui.container.session_factory() as session:
        report = audit.verify(session, ui.container.settings.secret_key)
    return _render(request, ui, user, report=report, fragment=is_htmx(request))
