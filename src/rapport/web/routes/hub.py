"""Administration pages of the data hub's intake: sources (write keys) and dead letters.

``/admin/sources`` lists sources, creates one (its write key is shown once, on the page that
answers the form, never in a URL), rotates a key and enables or disables a source.
``/admin/dead-letters`` lists refused events with filters; a dead letter's page shows its
payload, which can be edited and replayed, or discarded. Everything needs ``sources.manage``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from rapport.errors import RapportError
from rapport.events import dead_letters, sources
from rapport.trust import audit
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.i18n import N_
from rapport.web.rendering import query_string

router = APIRouter()
WHAT = "managing event sources"
PAGE_SIZE = 50
NOTICES = {
    "enabled": N_("Source enabled."),
    "disabled": N_("Source disabled: its write key is refused until it is enabled again."),
    "discarded": N_("Dead letter discarded."),
    "replayed": N_("Replayed: the event is stored."),
}


def _allowed(request: Request, user: Principal) -> None:
    actor_for(user, request).require("sources.manage", WHAT)


def _audit(ui: UI, session: Any, user: Principal, source_id: int, what: str) -> None:
    audit.append(session, ui.container.settings.secret_key, "config_changed",
                 actor=audit.actor_ref(user.user_id), target=f"sources:{source_id}",
                 details={"source": what})


def _sources_page(request: Request, ui: UI, user: Principal, *, issued: sources.IssuedKey | None = None,
                  errors: dict[str, str] | None = None, submitted: dict[str, str] | None = None,
                  status: int = 200) -> Response:
    with ui.container.session_factory() as session:
        items = sources.list_sources(session)
    return ui.render(request, "sources.html", {
        "section": "sources", "items": items, "issued": issued, "errors": errors or {},
        "submitted": submitted or {}, "channels": sources.SOURCE_CHANNELS,
        "notice": NOTICES.get(request.query_params.get("done") or ""),
    }, user=user, status=status)


@router.get("/admin/sources")
def sources_page(request: Request, ui: UI, user: User) -> Response:
    _allowed(request, user)
    return _sources_page(request, ui, user)


@router.post("/admin/sources")
def create_source(request: Request, ui: UI, user: User, form: Form) -> Response:
    _allowed(request, user)
    submitted = {k: str(form.get(k) or "").strip() for k in ("name", "channel")}
    display = ui.display(request, user)
    try:
        with ui.container.uow() as uow:
            issued = sources.create_source(uow.session, submitted["name"], submitted["channel"])
            _audit(ui, uow.session, user, issued.source.id, "created")
            uow.commit()
    except RapportError as exc:
        errors = {e.field: display.gettext(e.message) for e in exc.errors} or {
            "name": display.gettext(exc.detail)}
        return _sources_page(request, ui, user, errors=errors, submitted=submitted, status=422)
    return _sources_page(request, ui, user, issued=issued)


@router.post("/admin/sources/{source_id:int}/rotate")
def rotate_key(request: Request, source_id: int, ui: UI, user: User, form: Form) -> Response:
    _allowed(request, user)
    with ui.container.uow() as uow:
        issued = sources.rotate_key(uow.session, source_id)
        _audit(ui, uow.session, user, source_id, "key_rotated")
        uow.commit()
    return _sources_page(request, ui, user, issued=issued)


@router.post("/admin/sources/{source_id:int}/enabled")
def set_enabled(request: Request, source_id: int, ui: UI, user: User, form: Form) -> Response:
    _allowed(request, user)
    enabled = str(form.get("enabled") or "") == "1"
    with ui.container.uow() as uow:
        sources.update_source(uow.session, source_id, enabled=enabled)
        _audit(ui, uow.session, user, source_id, "enabled" if enabled else "disabled")
        uow.commit()
    return RedirectResponse(f"/admin/sources?done={'enabled' if enabled else 'disabled'}", 303)


def _filters(ui: UI, source: str, code: str, status: str) -> tuple[dead_letters.Filters, bool]:
    """The page's filters; an unknown source or status is ignored (flagged) rather than 404."""
    with ui.container.session_factory() as session:
        try:
            source_id = dead_letters.resolve_source(session, source or None)
        except RapportError:
            return dead_letters.Filters(source_id=-1), True
    return dead_letters.Filters(source_id=source_id, code=code or None,
                                status=status if status in dead_letters.STATUSES else None), False


@router.get("/admin/dead-letters")
def dead_letters_page(
    request: Request, ui: UI, user: User,
    source: Annotated[str, Query(max_length=100)] = "",
    code: Annotated[str, Query(max_length=60)] = "",
    status: Annotated[str, Query(max_length=12)] = "open",
    cursor: Annotated[str, Query(max_length=19)] = "",
) -> Response:
    _allowed(request, user)
    filters, unknown = _filters(ui, source, code, status)
    before = int(cursor) if cursor.isdigit() and len(cursor) < 19 else None
    with ui.container.session_factory() as session:
        items, next_cursor = dead_letters.list_dead_letters(session, filters, before_id=before,
                                                            limit=PAGE_SIZE)
        counts = dead_letters.counts(session, filters)
        names = [s.name for s in sources.list_sources(session)]
    keep = {"source": source, "code": code, "status": status}
    replayed = request.query_params.get("replayed")
    still_open = request.query_params.get("open")
    return ui.render(request, "dead_letters.html", {
        "section": "dead_letters", "items": items, "counts": counts, "unknown_source": unknown,
        "filters": keep, "statuses": dead_letters.STATUSES, "sources": names,
        "older": query_string({**keep, "cursor": next_cursor}) if next_cursor else None,
        "replayed": int(replayed) if replayed and replayed.isdigit() else None,
        "still_open": int(still_open) if still_open and still_open.isdigit() else None,
        "notice": NOTICES.get(request.query_params.get("done") or ""),
    }, user=user)


@router.post("/admin/dead-letters/replay")
def replay_matching(request: Request, ui: UI, user: User, form: Form) -> Response:
    _allowed(request, user)
    source, code = (str(form.get(k) or "").strip()[:100] for k in ("source", "code"))
    filters, unknown = _filters(ui, source, code, "open")
    replayed = still_open = 0
    if not unknown:
        with ui.container.session_factory() as session:
            ids = dead_letters.open_ids(session, filters, 10_000)
        for start in range(0, len(ids), 200):
            with ui.container.uow() as uow:
                chunk = [dead_letters.replay(uow.session, ui.container.settings, i)
                         for i in ids[start:start + 200]]
                uow.commit()
            ui.container.event_bus.publish([ref for o in chunk for ref in o.stored])
            replayed += sum(1 for o in chunk if o.status == "replayed")
            still_open += sum(1 for o in chunk if o.status == "open")
    return RedirectResponse("/admin/dead-letters" + query_string(
        {"source": source, "code": code, "status": "open", "replayed": replayed,
         "open": still_open}), 303)


def _letter_page(request: Request, ui: UI, user: Principal, dead_letter_id: int, *,
                 payload: str | None = None, error: str | None = None, status: int = 200) -> Response:
    with ui.container.session_factory() as session:
        letter = dead_letters.get_dead_letter(session, dead_letter_id)
    return ui.render(request, "dead_letter.html", {
        "section": "dead_letters", "letter": letter,
        "payload": letter.payload if payload is None else payload, "error": error,
        "notice": NOTICES.get(request.query_params.get("done") or ""),
    }, user=user, status=status)


@router.get("/admin/dead-letters/{dead_letter_id:int}")
def dead_letter_page(request: Request, dead_letter_id: int, ui: UI, user: User) -> Response:
    _allowed(request, user)
    return _letter_page(request, ui, user, dead_letter_id)


@router.post("/admin/dead-letters/{dead_letter_id:int}/replay")
def replay_one(request: Request, dead_letter_id: int, ui: UI, user: User, form: Form) -> Response:
    """Save the (edited) payload, then replay it; a refusal stays on the page with its reason."""
    _allowed(request, user)
    payload = str(form.get("payload") or "")
    display = ui.display(request, user)
    try:
        with ui.container.uow() as uow:
            current = dead_letters.get_dead_letter(uow.session, dead_letter_id)
            if payload and payload != current.payload:
                dead_letters.fix_payload(uow.session, ui.container.settings, dead_letter_id,
                                         payload.replace("\x00", ""))
            outcome = dead_letters.replay(uow.session, ui.container.settings, dead_letter_id)
            uow.commit()
    except RapportError as exc:
        return _letter_page(request, ui, user, dead_letter_id, payload=payload,
                            error=display.gettext(exc.detail), status=409 if exc.status == 409 else 422)
    if outcome.stored:
        ui.container.event_bus.publish(list(outcome.stored))
    if outcome.status == "replayed":
        return RedirectResponse(f"/admin/dead-letters/{dead_letter_id}?done=replayed", 303)
    return _letter_page(request, ui, user, dead_letter_id, status=422,
                        error=f"{outcome.code}: {outcome.reason}")


@router.post("/admin/dead-letters/{dead_letter_id:int}/discard")
def discard_one(request: Request, dead_letter_id: int, ui: UI, user: User, form: Form) -> Response:
    _allowed(request, user)
    try:
        with ui.container.uow() as uow:
            dead_letters.discard(uow.session, dead_letter_id)
            uow.commit()
    except RapportError as exc:
        return _letter_page(request, ui, user, dead_letter_id,
                            error=ui.display(request, user).gettext(exc.detail), status=409)
    return RedirectResponse(f"/admin/dead-letters/{dead_letter_id}?done=discarded", 303)
