"""Privacy officer pages: data-subject requests and their deadlines.

``/privacy`` lists requests (overdue ones highlighted) with a search to open a new one;
``/privacy/new`` shows the contacts and leads a lookup finds so the officer picks the
person; a request's page shows what is held about them now, runs it (access: download the
bundle; erasure: erase), rejects it and shows the erasure report. Everything needs the
``privacy.manage`` capability.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from rapport.errors import Forbidden, NotFound, RapportError
from rapport.trust import dsr, erasure
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.i18n import N_

router = APIRouter()
_REF = re.compile(r"^(contacts|leads):\d+$")
STATUS_PILL = {"received": "pill-new", "in_progress": "pill-in_progress",
               "completed": "pill-done", "rejected": "pill-rejected"}
NOTICES = {
    "created": N_("Request opened. Check what is held, then run it."),
    "completed": N_("Request answered."),
    "erased": N_("The person was erased; the report below lists every store."),
    "residue": N_("Residue was found, so nothing was erased; see the report."),
    "rejected": N_("Request rejected."),
}
LAW_NAMES = {"gdpr": "GDPR", "ccpa": "CCPA", "pipl": "PIPL"}


def require_officer(user: User) -> Principal:
    if not user.policy.can("privacy.manage"):
        raise Forbidden("Your roles do not allow handling privacy requests")
    return user


Officer = Annotated[Principal, Depends(require_officer)]


def _lookup(person: str) -> dict[str, str]:
    """What the officer typed, as the lookup it is: a record, an e-mail or a phone."""
    person = person.strip()
    if _REF.match(person):
        return {"subject": person}
    if "@" in person or "＠" in person:
        return {"email": person}
    return {"phone": person}


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _context(ui: UI, request: Request, user: Principal, **extra: Any) -> dict[str, Any]:
    return {"section": "privacy", "laws": LAW_NAMES, "pill": STATUS_PILL,
            "notice": NOTICES.get(request.query_params.get("done") or ""), **extra}


@router.get("/privacy")
def requests_page(
    request: Request, ui: UI, user: Officer,
    status: Annotated[str, Query(max_length=20)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    overdue: Annotated[str, Query(max_length=5)] = "",
) -> Response:
    status = status if status in dsr.STATUSES else ""
    kind = kind if kind in dsr.KINDS else ""
    with ui.container.session_factory() as session:
        items = dsr.list_requests(session, status=status or None, kind=kind or None,
                                  overdue=True if overdue == "1" else None, limit=200)
        late = len(dsr.list_requests(session, overdue=True, limit=200))
    return ui.render(request, "privacy.html", _context(
        ui, request, user, items=items, late=late,
        filters={"status": status, "kind": kind, "overdue": overdue == "1"},
        statuses=dsr.STATUSES, kinds=dsr.KINDS), user=user)


@router.get("/privacy/new")
def new_request_page(
    request: Request, ui: UI, user: Officer,
    person: Annotated[str, Query(max_length=320)] = "",
) -> Response:
    matches: list[dsr.PersonMatch] = []
    error = None
    status = 200
    display = ui.display(request, user)
    if person.strip():
        try:
            with ui.container.session_factory() as session:
                matches = dsr.find_people(session, ui.container.settings, **_lookup(person))
        except RapportError as exc:
            error = "; ".join(display.gettext(e.message) for e in exc.errors) or display.gettext(exc.detail)
            status = 422
        if not matches and error is None:
            error = display.gettext(N_("No contact or lead matches: nothing is held about them."))
    return ui.render(request, "privacy_new.html", _context(
        ui, request, user, person=person, matches=matches, error=error, kinds=dsr.KINDS,
        today=_today(), submitted={}, errors={}), user=user, status=status)


@router.post("/privacy/requests")
def create_request(request: Request, ui: UI, user: Officer, form: Form) -> Response:
    display = ui.display(request, user)
    submitted = {k: str(form.get(k) or "").strip() for k in
                 ("subject", "kind", "law", "received_on", "notes", "person")}
    errors: dict[str, str] = {}
    received: date | None = None
    if submitted["received_on"]:
        try:
            received = date.fromisoformat(submitted["received_on"])
        except ValueError:
            errors["received_on"] = display.gettext(N_("Dates must look like 2026-01-31."))
    if not errors:
        try:
            with ui.container.uow() as uow:
                info = dsr.create_request(
                    uow.session, ui.container.settings, actor_for(user, request),
                    kind=submitted["kind"], law=submitted["law"] or "gdpr",
                    subject=submitted["subject"] or None, received_on=received,
                    notes=submitted["notes"] or None)
                uow.commit()
            return RedirectResponse(f"/privacy/requests/{info.id}?done=created", 303)
        except RapportError as exc:
            errors = {e.field: display.gettext(e.message) for e in exc.errors} or {
                "subject": display.gettext(exc.detail)}
    with ui.container.session_factory() as session:
        try:
            matches = dsr.find_people(session, ui.container.settings, **_lookup(submitted["person"])) \
                if submitted["person"] else []
        except RapportError:
            matches = []
    return ui.render(request, "privacy_new.html", _context(
        ui, request, user, person=submitted["person"], matches=matches, error=None,
        kinds=dsr.KINDS, today=_today(), submitted=submitted, errors=errors),
        user=user, status=422)


def _request_context(ui: UI, request: Request, user: Principal, request_id: int) -> dict[str, Any]:
    with ui.container.session_factory() as session:
        info = dsr.get_request(session, request_id)
        wanted = info.is_open or (info.kind == "access" and info.status == "completed")
        held = dsr.holdings(session, ui.container.settings, info) if wanted else None
    stores = [{"name": s.name, "holds": s.holds, "action": s.action, "erases": s.erases,
               "count": held.counts.get(s.name, 0) if held else None} for s in erasure.STORES]
    report_rows = []
    for name, row in (info.report.get("stores") or {}).items():
        report_rows.append({"name": name, **row})
    subject_link = None
    if info.subject and (held is not None or not info.is_open):
        table, rid = erasure.parse_ref(info.subject)
        subject_link = f"/{table}/{rid}" if held is not None else None
    return _context(ui, request, user, info=info, held=held, stores=stores,
                    report_rows=report_rows, subject_link=subject_link)


@router.get("/privacy/requests/{request_id:int}")
def request_page(request: Request, request_id: int, ui: UI, user: Officer) -> Response:
    return ui.render(request, "privacy_request.html",
                     _request_context(ui, request, user, request_id), user=user)


@router.post("/privacy/requests/{request_id:int}/run")
def run_request(request: Request, request_id: int, ui: UI, user: Officer, form: Form,
                background: BackgroundTasks) -> Response:
    run = dsr.run_request(ui.container, actor_for(user, request), request_id, maintenance=False)
    done = "completed"
    if run.info.kind == "erasure":
        done = "erased" if run.info.status == "completed" else "residue"
        if run.info.status == "completed":
            background.add_task(dsr.maintain, ui.container, request_id, run.touched_tables)
    return RedirectResponse(f"/privacy/requests/{request_id}?done={done}", 303)


@router.get("/privacy/requests/{request_id:int}/bundle")
def download_bundle(request: Request, request_id: int, ui: UI, user: Officer) -> Response:
    bundle = dsr.download_bundle(ui.container, actor_for(user, request), request_id)
    return Response(bundle.content, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{bundle.filename}"',
        "Cache-Control": "no-store",
    })


@router.post("/privacy/requests/{request_id:int}/reject")
def reject_request(request: Request, request_id: int, ui: UI, user: Officer, form: Form) -> Response:
    reason = str(form.get("reason") or "")
    try:
        with ui.container.uow() as uow:
            dsr.reject_request(uow.session, ui.container.settings, actor_for(user, request),
                               request_id, reason)
            uow.commit()
    except NotFound:
        raise
    except RapportError as exc:
        display = ui.display(request, user)
        context = _request_context(ui, request, user, request_id)
        context["reject_error"] = display.gettext(exc.detail)
        return ui.render(request, "privacy_request.html", context, user=user,
                         status=exc.status)
    return RedirectResponse(f"/privacy/requests/{request_id}?done=rejected", 303)
