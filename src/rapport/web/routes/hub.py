"""Administration pages of the data hub's intake: sources (write keys) and dead letters.

``/admin/sources`` lists sources, creates one (its write key is shown once, on the page that
answers the form, never in a URL), rotates a key and enables or disables a source.
``/admin/sources/{id}/edit`` edits its mapping, webhook signature check and trait priority
through the service the API's PATCH uses; the signing secret is never put back in a page.
``/admin/dead-letters`` lists refused events with filters; a dead letter's page shows its
payload, which can be edited and replayed, or discarded. Everything needs ``sources.manage``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args

import orjson
from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from rapport.errors import FieldError, RapportError
from rapport.events import dead_letters, sources, webhook_signatures
from rapport.trust import audit
from rapport.trust.auth import Principal
from rapport.web.deps import UI, Form, User, actor_for
from rapport.web.forms import field_errors
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
    "saved": N_("Source settings saved."),
}
OWN_INPUTS = ("signature", "trait_priority")  # mapping keys with their own inputs, not in the JSON
SIGNATURE_OPTIONS = ("tolerance_seconds", "header", "algorithm", "encoding", "prefix")
SETTINGS_FIELDS = ("mapping", "trait_priority", "scheme", *SIGNATURE_OPTIONS, "secret")
NO_SIGNATURE = "none"
SCHEME_OPTIONS = {name: tuple(o for o in SIGNATURE_OPTIONS if o in s.config_model.model_fields)
                  for name, s in webhook_signatures.SCHEMES.items()}  # the inputs each one reads
HMAC_FIELDS = webhook_signatures.HmacConfig.model_fields
ALGORITHMS: tuple[str, ...] = get_args(HMAC_FIELDS["algorithm"].annotation)
ENCODINGS: tuple[str, ...] = get_args(HMAC_FIELDS["encoding"].annotation)
_PRIORITY = re.compile(r"-?\d{1,9}")
# the input that shows each field error of the domain (others go to the banner)
_ERROR_INPUTS = {"mapping": "mapping", "mapping.signature": "scheme",
                 **{f"mapping.signature.{k}": k for k in ("scheme", "secret", *SIGNATURE_OPTIONS)}}


def _allowed(request: Request, user: Principal) -> None:
    actor_for(user, request).require("sources.manage", WHAT)


def _audit(ui: UI, session: Any, user: Principal, source_id: int, what: str,
           **more: Any) -> None:
    audit.append(session, ui.container.settings.secret_key, "config_changed",
                 actor=audit.actor_ref(user.user_id), target=f"sources:{source_id}",
                 details={"source": what, **more})


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


def _pretty(doc: Any) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def _stored_values(info: sources.SourceInfo) -> dict[str, str]:
    """The settings form as the stored mapping fills it: the field mapping as JSON, the
    signature block's scheme and options (its secret is not read here)."""
    shown = info.public_mapping()
    found = shown.get("signature")
    block: dict[str, Any] = found if isinstance(found, dict) else {}
    priority = shown.get("trait_priority")
    return {
        "mapping": _pretty({k: v for k, v in shown.items() if k not in OWN_INPUTS}),
        "trait_priority": "" if priority is None else str(priority),
        "scheme": str(block.get("scheme") or NO_SIGNATURE),
        **{k: "" if block.get(k) is None else str(block[k]) for k in SIGNATURE_OPTIONS},
    }


def _settings_page(request: Request, ui: UI, user: Principal, source_id: int, *,
                   submitted: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                   general: list[str] | None = None, status: int = 200) -> Response:
    with ui.container.session_factory() as session:
        info = sources.get_source(session, source_id)
    block = info.public_mapping().get("signature")
    return ui.render(request, "source_settings.html", {
        "section": "sources", "source": info, "values": submitted or _stored_values(info),
        "signature": block if isinstance(block, dict) else None,
        "schemes": (NO_SIGNATURE, *webhook_signatures.SCHEMES), "algorithms": ALGORITHMS,
        "encodings": ENCODINGS, "errors": errors or {}, "general": general or [],
        "notice": NOTICES.get(request.query_params.get("done") or ""),
    }, user=user, status=status)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_nul(v) for v in value)


def _settings_mapping(submitted: dict[str, str], secret: str, remove: bool,
                      current: sources.SourceInfo) -> tuple[dict[str, Any], dict[str, str]]:
    """The mapping the form asks for, to be checked by the same service as the API's PATCH;
    or the problems found reading the form (message ids, translated when shown)."""
    errors: dict[str, str] = {}
    fields: Any = {}
    if submitted["mapping"].strip():
        try:
            fields = orjson.loads(submitted["mapping"])
        except orjson.JSONDecodeError:
            errors["mapping"] = N_("The mapping is not valid JSON.")
    if "mapping" not in errors and _has_nul(fields):  # PostgreSQL cannot store it
        errors["mapping"] = N_("Remove the NUL (\\u0000) characters from the mapping.")
    elif "mapping" not in errors and not isinstance(fields, dict):
        errors["mapping"] = N_("The mapping must be a JSON object, such as {\"event\": \"$.type\"}.")
    elif "mapping" not in errors and any(k in fields for k in OWN_INPUTS):
        errors["mapping"] = N_("Set the signature check and the trait priority in their own "
                               "fields, not in the mapping.")
    mapping: dict[str, Any] = dict(fields) if isinstance(fields, dict) else {}
    priority = submitted["trait_priority"]
    if priority and not _PRIORITY.fullmatch(priority):
        errors["trait_priority"] = N_("A whole number, such as 10 (higher wins).")
    elif priority:
        mapping["trait_priority"] = int(priority)
    scheme = submitted["scheme"]
    if remove:
        mapping["signature"] = None
    elif scheme == NO_SIGNATURE:
        if "signature" in current.mapping:
            errors["scheme"] = N_("To stop checking signatures, tick “Remove the signature "
                                  "check”.")
    else:
        block: dict[str, Any] = {"scheme": scheme}
        for option in SCHEME_OPTIONS.get(scheme, ()):
            if submitted[option]:  # empty: the scheme's default (or "required")
                block[option] = submitted[option]  # its config model reads and checks it
        if secret:  # empty: the stored secret is kept
            block["secret"] = secret
        mapping["signature"] = block
    return mapping, errors


@router.get("/admin/sources/{source_id:int}/edit")
def source_settings_page(request: Request, source_id: int, ui: UI, user: User) -> Response:
    _allowed(request, user)
    return _settings_page(request, ui, user, source_id)


@router.post("/admin/sources/{source_id:int}/edit")
def save_source_settings(request: Request, source_id: int, ui: UI, user: User,
                         form: Form) -> Response:
    """Save the mapping, signature check and trait priority; a refusal stays on the form with
    each message next to its input, and the secret typed is never sent back."""
    _allowed(request, user)
    submitted = _submitted(form)
    display = ui.display(request, user)
    with ui.container.session_factory() as session:
        current = sources.get_source(session, source_id)
    mapping, problems = _settings_mapping(submitted, str(form.get("secret") or ""),
                                          form.get("remove_signature") == "1", current)
    if problems:
        return _settings_page(request, ui, user, source_id, submitted=submitted, status=422,
                              errors={k: display.gettext(v) for k, v in problems.items()})
    try:
        with ui.container.uow() as uow:
            sources.update_source(uow.session, source_id, mapping=mapping,
                                  secret_key=ui.container.settings.secret_key)
            _audit(ui, uow.session, user, source_id, "changed", fields=["mapping"],
                   **sources.signature_change(mapping))
            uow.commit()
    except RapportError as exc:
        renamed = [FieldError(_ERROR_INPUTS.get(e.field, e.field), e.message, e.code)
                   for e in exc.errors]
        by_input, general = field_errors(renamed, SETTINGS_FIELDS)
        return _settings_page(
            request, ui, user, source_id, submitted=submitted, status=exc.status,
            errors={k: display.gettext(v) for k, v in by_input.items()},
            general=[display.gettext(g) for g in general]
            or ([] if by_input else [display.gettext(exc.detail)]))
    return RedirectResponse(f"/admin/sources/{source_id}/edit?done=saved", 303)


def _submitted(form: FormData) -> dict[str, str]:
    """The form's text inputs as typed (never the secret, which is not shown again)."""
    return {k: str(form.get(k) or "").strip() for k in SETTINGS_FIELDS if k != "secret"}


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
