"""The per-person consent panel on contact and lead pages, and the full history page.

The record page loads the panel with HTMX (``GET /{object}/{id}/consents``); its form posts
back to the same path and gets the refreshed panel. Without JavaScript the form posts
normally and the browser lands on the history page.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from rapport.crm.registry import OBJECTS
from rapport.errors import FieldError, Forbidden, NotFound, ValidationFailed
from rapport.trust import consent
from rapport.trust.actor import Actor
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for, is_htmx
from rapport.web.display import Display
from rapport.web.i18n import N_

router = APIRouter()

FORM_FIELDS = ("purpose", "status", "lawful_basis", "source", "evidence", "expires_on")
PURPOSE_LABELS = {
    "marketing_email": N_("Marketing email"),
    "sms": N_("SMS"),
    "profiling": N_("Profiling"),
    "analytics": N_("Analytics"),
    "partner_sharing": N_("Sharing with partners"),
    "sensitive_data": N_("Sensitive data"),
}
STATE_LABELS = {
    "granted": N_("Granted"),
    "withdrawn": N_("Withdrawn"),
    "denied": N_("Denied"),
    "expired": N_("Expired"),
    "none": N_("Not asked"),
}
BASIS_LABELS = {
    "consent": N_("Consent"),
    "contract": N_("Contract"),
    "legal_obligation": N_("Legal obligation"),
    "vital_interests": N_("Vital interests"),
    "public_task": N_("Public task"),
    "legitimate_interests": N_("Legitimate interests"),
}
# Domain error codes shown in the user's language next to the input.
ERROR_TEXT = {
    ("lawful_basis", "basis_not_allowed"): N_("This purpose cannot be granted on this lawful basis."),
    ("evidence", "required"): N_("Describe the proof of this explicit, separate consent."),
    ("source", "required"): N_("Say where the decision came from."),
    ("expires_on", "invalid"): N_("Choose a future date; only a grant can expire."),
}
DEFAULT_SOURCE = "crm_ui"


def _subject(object_name: str, record_id: int) -> str:
    if object_name not in consent.SUBJECT_OBJECTS:
        raise NotFound(f"There is no consent panel for '{object_name}'")
    return f"{object_name}:{record_id}"


def _last_day(display: Display, expires_at: datetime) -> str:
    """The last local day a consent is valid on (it lapses at ``expires_at``)."""
    return display.fmt.date((expires_at.astimezone(display.fmt.tz) - timedelta(microseconds=1)).date())


def _state_rows(display: Display, states: list[consent.PurposeState]) -> list[dict[str, Any]]:
    rows = []
    for s in states:
        entry = s.entry
        rows.append({
            "purpose": s.purpose, "label": display.gettext(PURPOSE_LABELS[s.purpose]),
            "state": s.state, "state_label": display.gettext(STATE_LABELS[s.state]),
            "valid": s.valid,
            "basis": display.gettext(BASIS_LABELS.get(entry.lawful_basis, entry.lawful_basis))
            if entry else "",
            "source": entry.source if entry else "",
            "date": display.fmt.short_datetime(entry.recorded_at) if entry else "",
            "expires": _last_day(display, entry.expires_at) if entry and entry.expires_at else "",
        })
    return rows


def _choices(display: Display, labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(value, display.gettext(label)) for value, label in labels.items()]


def _context(ui: UI, request: Request, user: Principal, actor: Actor, object_name: str,
             record_id: int, *, submitted: dict[str, str] | None = None,
             errors: dict[str, str] | None = None, general: list[str] | None = None,
             saved: bool = False, with_history: bool = False) -> dict[str, Any]:
    display = ui.display(request, user)
    subject = _subject(object_name, record_id)
    records = ui.container.records
    context: dict[str, Any] = {
        "spec": OBJECTS[object_name], "record_id": record_id, "display": display,
        "submitted": submitted or {"source": DEFAULT_SOURCE, "lawful_basis": "consent",
                                   "status": "granted"},
        "errors": errors or {}, "general": general or [], "saved": saved,
        "purposes": _choices(display, PURPOSE_LABELS),
        "statuses": [(s, display.gettext(STATE_LABELS[s])) for s in consent.STATUSES],
        "bases": _choices(display, BASIS_LABELS), "allowed": False, "rows": [],
        "can_record": False, "history": [], "section": object_name,
    }
    with ui.container.session_factory() as session:
        try:
            consent.authorise(records, session, actor, subject, "read")
        except Forbidden:
            return context  # the panel says the user's roles do not show consent
        context["allowed"] = True
        context["can_record"] = consent.may(actor, object_name, "update")
        context["rows"] = _state_rows(display, consent.current(session, subject))
        if with_history:
            page = consent.history(session, subject, limit=consent.MAX_PAGE)
            context["history"] = [{
                "entry": e, "label": display.gettext(PURPOSE_LABELS.get(e.purpose, e.purpose)),
                "status": display.gettext(STATE_LABELS.get(e.status, e.status)),
                "basis": display.gettext(BASIS_LABELS.get(e.lawful_basis, e.lawful_basis)),
                "date": display.fmt.short_datetime(e.recorded_at),
                "expires": _last_day(display, e.expires_at) if e.expires_at else "",
            } for e in page.items]
            context["history_more"] = page.next_cursor is not None
        session.commit()  # the record service counts reads for the anomaly detector
    return context


def _render_panel(ui: UI, request: Request, user: Principal, context: dict[str, Any],
                  status: int = 200) -> Response:
    return ui.render(request, "partials/consent_panel.html", context, user=user, status=status)


@router.get("/{object_name}/{record_id:int}/consents")
def consent_panel(object_name: str, record_id: int, request: Request, ui: UI,
                  user: User) -> Response:
    actor = actor_for(user, request)
    return _render_panel(ui, request, user,
                         _context(ui, request, user, actor, object_name, record_id))


@router.get("/{object_name}/{record_id:int}/consents/history")
def consent_history_page(object_name: str, record_id: int, request: Request, ui: UI,
                         user: User) -> Response:
    actor = actor_for(user, request)
    context = _context(ui, request, user, actor, object_name, record_id, with_history=True)
    return _history_page(ui, request, user, object_name, record_id, context)


def _history_page(ui: UI, request: Request, user: Principal, object_name: str, record_id: int,
                  context: dict[str, Any], status: int = 200) -> Response:
    if not context["allowed"]:
        raise Forbidden("Your roles do not allow you to see consent for this record")
    with ui.container.session_factory() as session:
        record = ui.container.records.get(session, object_name, record_id,
                                          actor=actor_for(user, request))
        session.commit()
    context["record"] = record
    return ui.render(request, "consent_history.html", context, user=user, status=status)


def _expiry(raw: str, tz: tzinfo) -> datetime | None:
    """A date picked in the form: the consent lasts through that day in the user's zone."""
    if not raw.strip():
        return None
    day = date.fromisoformat(raw.strip())
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def _form_errors(display: Display, errors: list[FieldError]) -> tuple[dict[str, str], list[str]]:
    by_field: dict[str, str] = {}
    general: list[str] = []
    for err in errors:
        name = "expires_on" if err.field == "expires_at" else err.field
        text = ERROR_TEXT.get((name, err.code)) or (
            ERROR_TEXT[("expires_on", "invalid")] if name == "expires_on" else None)
        message = display.gettext(text) if text else display.gettext(err.message)
        if name in FORM_FIELDS:
            by_field.setdefault(name, message)
        else:
            general.append(message)
    return by_field, general


@router.post("/{object_name}/{record_id:int}/consents")
def record_decision(object_name: str, record_id: int, request: Request, ui: UI, user: User,
                    form: Form) -> Response:
    actor = actor_for(user, request)
    subject = _subject(object_name, record_id)
    display = ui.display(request, user)
    submitted = {k: str(form.get(k) or "") for k in FORM_FIELDS}
    try:
        try:
            expires_at = _expiry(submitted["expires_on"], display.fmt.tz)
        except ValueError:
            raise ValidationFailed("The date is not valid", errors=[
                FieldError("expires_on", "use the date picker (YYYY-MM-DD)")]) from None
        with ui.container.uow() as uow:
            person = consent.authorise(ui.container.records, uow.session, actor, subject,
                                       "update")
            consent.record(uow.session, ui.container.settings.secret_key, actor.user_id, person,
                           submitted["purpose"], submitted["status"], submitted["lawful_basis"],
                           submitted["source"], submitted["evidence"] or None, expires_at)
            uow.commit()
    except ValidationFailed as exc:
        errors, general = _form_errors(display, exc.errors)
        if not exc.errors:
            general = [display.gettext(exc.detail)]
        context = _context(ui, request, user, actor, object_name, record_id, submitted=submitted,
                           errors=errors, general=general, with_history=not is_htmx(request))
        if is_htmx(request):  # htmx swaps 2xx answers only
            return _render_panel(ui, request, user, context)
        return _history_page(ui, request, user, object_name, record_id, context, status=422)
    if not is_htmx(request):
        return RedirectResponse(f"/{object_name}/{record_id}/consents/history", 303)
    return _render_panel(ui, request, user,
                         _context(ui, request, user, actor, object_name, record_id, saved=True))
