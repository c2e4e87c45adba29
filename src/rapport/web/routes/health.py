"""The data-health dashboard: the hub's figures overall and per source, for a chosen window."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from rapport.governance import health
from rapport.web.deps import UI, User, actor_for
from rapport.web.i18n import N_

router = APIRouter()
WINDOWS = ((1, N_("Last hour")), (24, N_("Last 24 hours")), (168, N_("Last 7 days")),
           (720, N_("Last 30 days")))
LATE_CHOICES = (5, 15, 60, 360, 1440)


def _choice(raw: str | None, allowed: tuple[int, ...], default: int) -> int:
    """A value from the list offered on the page; anything else falls back to the default."""
    if raw and raw.isdigit() and int(raw) in allowed:
        return int(raw)
    return default


@router.get("/admin/health")
def health_page(request: Request, ui: UI, user: User) -> Response:
    """Query string: ``hours`` (1, 24, 168, 720) and ``late`` (minutes)."""
    actor = actor_for(user, request)
    actor.require("health.read", "reading the data-health dashboard")
    hours = _choice(request.query_params.get("hours"), tuple(h for h, _ in WINDOWS),
                    health.DEFAULT_HOURS)
    late = _choice(request.query_params.get("late"), LATE_CHOICES, health.DEFAULT_LATE_MINUTES)
    window = health.make_window(hours, late)
    with ui.container.session_factory() as session:
        report = health.health_report(session, actor, ui.container.settings, window)
    has_events = bool(report.overall.events or report.overall.dead_letters
                      or any(s.figures.last_event_at for s in report.sources))
    return ui.render(request, "health.html", {
        "section": "health", "report": report, "windows": WINDOWS, "hours": hours,
        "late_choices": LATE_CHOICES, "late": late, "has_events": has_events,
        "crowded_limit": health.CROWDED_IDENTIFIERS,
    }, user=user)
