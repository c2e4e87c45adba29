"""Security alerts: review users the anomaly detector locked, resolve and unlock them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from rapport.errors import Conflict, NotFound, ValidationFailed
from rapport.trust import anomaly
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.i18n import N_

router = APIRouter()
WHAT = "reviewing security alerts"
METRIC_LABELS = {"high_value": N_("Tier-A records"), "exports": N_("Records exported"),
                 "reads": N_("Records read")}


def _render(request: Request, ui: UI, user: Principal, *, errors: dict[int, str] | None = None,
            submitted: dict[int, str] | None = None, resolved: str | None = None,
            status: int = 200) -> Response:
    with ui.container.session_factory() as session:
        open_alerts, _ = anomaly.list_alerts(session, status="open", limit=200)
        recent, _ = anomaly.list_alerts(session, status="resolved", limit=30)
    return ui.render(request, "security_alerts.html", {
        "open_alerts": open_alerts, "recent": recent, "errors": errors or {},
        "submitted": submitted or {}, "resolved": resolved, "metrics": METRIC_LABELS,
        "section": "security",
    }, user=user, status=status)


@router.get("/admin/security")
def security_page(request: Request, ui: UI, user: User) -> Response:
    actor_for(user, request).require("security.manage", WHAT)
    resolved = request.query_params.get("resolved")
    return _render(request, ui, user, resolved=resolved if resolved in ("1", "unlocked") else None)


@router.post("/admin/security/{alert_id:int}/resolve")
def resolve(request: Request, alert_id: int, ui: UI, user: User, form: Form) -> Response:
    actor = actor_for(user, request)
    actor.require("security.manage", WHAT)
    resolution = str(form.get("resolution") or "")
    unlock = str(form.get("unlock") or "") in ("on", "true", "1")
    display = ui.display(request, user)
    try:
        if "\x00" in resolution:
            raise ValidationFailed("text must not contain NUL (\\u0000) characters")
        if len(resolution) > 2000:
            raise ValidationFailed("Keep the resolution under 2,000 characters")
        with ui.container.uow() as uow:
            anomaly.resolve_alert(uow.session, ui.container.settings, actor.user_id, alert_id,
                                  resolution, unlock=unlock)
            uow.commit()
    except (ValidationFailed, Conflict, NotFound) as exc:
        errors: dict[int, str] = {alert_id: display.gettext(exc.detail)}
        submitted: dict[int, Any] = {alert_id: resolution}
        return _render(request, ui, user, errors=errors, submitted=submitted,
                       status=404 if isinstance(exc, NotFound) else 422)
    return RedirectResponse(f"/admin/security?resolved={'unlocked' if unlock else '1'}", 303)
