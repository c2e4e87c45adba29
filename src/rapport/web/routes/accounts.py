"""Account security page: two-factor sign-in, live sessions and API tokens of the signed-in user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from rapport.errors import Conflict, Forbidden, RapportError, ValidationFailed
from rapport.trust import auth
from rapport.trust.models import User as UserRow
from rapport.web.deps import UI, Form, User
from rapport.web.i18n import N_
from rapport.web.routes.auth import client_network
from rapport.web.security import raw_session_id

router = APIRouter()
PAGE = "/account/security"
DONE: dict[str, str] = {
    "totp_started": N_("Add the key to your authenticator app, then enter a code to finish."),
    "totp_on": N_("Two-factor sign-in is on."),
    "totp_off": N_("Two-factor sign-in is off."),
    "session_ended": N_("Session ended."),
    "others_ended": N_("Signed out of every other session."),
    "token_revoked": N_("Token revoked."),
}


def _page(request: Request, ui: UI, user: User, *, status: int = 200,
          headers: dict[str, str] | None = None, **extra: Any) -> Response:
    container = ui.container
    secret = container.settings.secret_key
    current = raw_session_id(request, container)
    with container.session_factory() as session:
        row = session.get(UserRow, user.user_id)
        assert row is not None
        context: dict[str, Any] = {
            "section": "account",
            "totp": auth.totp_status(session, user.user_id),
            "enrolment": auth.pending_enrolment(session, secret, user.user_id),
            "sessions": auth.list_sessions(session, user.user_id, current),
            "tokens": auth.list_tokens(session, user.user_id),
            "roles": auth.user_role_names(session, row),
            "days_default": auth.default_token_days(container.settings.token_days_max),
            "days_max": container.settings.token_days_max,
            "new_token": None, "totp_error": None, "token_errors": {}, "submitted": {},
        }
    done = DONE.get(request.query_params.get("done") or "")
    if done:
        context["flash"] = done
    context.update(extra)
    return ui.render(request, "account_security.html", context, user=user, status=status,
                     headers=headers)


def _back(done: str) -> Response:
    return RedirectResponse(f"{PAGE}?done={done}", status_code=303)


def _totp_error(ui: UI, request: Request, user: User, error: RapportError) -> str:
    _ = ui.display(request, user).gettext
    if isinstance(error, auth.AccountLocked):
        return str(_("Too many failed sign-ins: this account is locked. "
                     "Try again in %(minutes)s min.") % {"minutes": -(-error.retry_after // 60)})
    if isinstance(error, ValidationFailed):
        reused = any("already used" in e.message for e in error.errors)
        if reused:
            return str(_("This code was already used; wait for the next one."))
        return str(_("Wrong code; enter the 6-digit code your authenticator app shows now."))
    if isinstance(error, Forbidden):
        return str(_("Your role requires two-factor sign-in; it cannot be turned off."))
    return str(_(error.detail))


@router.get(PAGE)
def security_page(request: Request, ui: UI, user: User) -> Response:
    return _page(request, ui, user)


@router.post(f"{PAGE}/totp/start")
def totp_start(request: Request, ui: UI, user: User, form: Form) -> Response:
    with ui.container.uow() as uow:
        auth.start_totp_enrolment(uow.session, ui.container.settings.secret_key, user.user_id)
        uow.commit()
    return _back("totp_started")


@router.post(f"{PAGE}/totp/confirm")
def totp_confirm(request: Request, ui: UI, user: User, form: Form) -> Response:
    code = str(form.get("code") or "")[:20]
    try:
        with ui.container.uow() as uow:
            auth.confirm_totp(uow.session, ui.container.settings.secret_key, user.user_id, code)
            uow.commit()
    except (ValidationFailed, Conflict) as exc:
        return _page(request, ui, user, status=422,
                     totp_error=_totp_error(ui, request, user, exc))
    return _back("totp_on")


@router.post(f"{PAGE}/totp/disable")
def totp_disable(request: Request, ui: UI, user: User, form: Form) -> Response:
    code = str(form.get("code") or "")[:20]
    with ui.container.uow() as uow:
        outcome = auth.disable_totp(uow.session, ui.container.settings.secret_key, user.user_id,
                                    code, network=client_network(request, ui.container))
        uow.commit()
    if outcome.error is not None:
        error = outcome.error
        headers = ({"Retry-After": str(error.retry_after)}
                   if isinstance(error, auth.AccountLocked) else None)
        return _page(request, ui, user, status=error.status, headers=headers,
                     totp_error=_totp_error(ui, request, user, error))
    return _back("totp_off")


@router.post(f"{PAGE}/sessions/{{session_id:int}}/revoke")
def session_revoke(request: Request, session_id: int, ui: UI, user: User, form: Form) -> Response:
    with ui.container.uow() as uow:
        auth.revoke_session(uow.session, ui.container.settings.secret_key, user.user_id,
                            session_id)
        uow.commit()
    return _back("session_ended")


@router.post(f"{PAGE}/sessions/revoke-others")
def sessions_revoke_others(request: Request, ui: UI, user: User, form: Form) -> Response:
    with ui.container.uow() as uow:
        auth.revoke_other_sessions(uow.session, ui.container.settings.secret_key, user.user_id,
                                   raw_session_id(request, ui.container))
        uow.commit()
    return _back("others_ended")


@router.post(f"{PAGE}/tokens")
def token_create(request: Request, ui: UI, user: User, form: Form) -> Response:
    settings = ui.container.settings
    _ = ui.display(request, user).gettext
    name = str(form.get("name") or "")[:200]
    days_text = str(form.get("days") or "").strip()[:12]
    roles = [str(r)[:60] for r in form.getlist("roles")][:50]
    submitted: dict[str, Any] = {"name": name, "days": days_text, "roles": roles}
    errors: dict[str, str] = {}
    days: int | None = None
    if days_text:
        try:
            days = int(days_text)
        except ValueError:
            errors["days"] = str(_("Choose 1 to %(max)s days.") % {"max": settings.token_days_max})
    if not errors:
        try:
            with ui.container.uow() as uow:
                issued = auth.issue_token(
                    uow.session, settings.secret_key, user.user_id, name=name,
                    days=days, roles=roles, max_days=settings.token_days_max,
                    actor_user_id=user.user_id)
                uow.commit()
            return _page(request, ui, user, status=201, new_token=issued)
        except ValidationFailed as exc:
            for err in exc.errors:
                if err.field == "name":
                    errors["name"] = str(_("Give the token a name of 1 to 100 characters."))
                elif err.field == "days":
                    errors["days"] = str(_("Choose 1 to %(max)s days.")
                                         % {"max": settings.token_days_max})
                else:
                    errors[err.field] = err.message
        except Forbidden:
            errors["general"] = str(_("Your role requires two-factor sign-in: turn it on "
                                      "before creating API tokens."))
    return _page(request, ui, user, status=422, token_errors=errors, submitted=submitted)


@router.post(f"{PAGE}/tokens/{{token_id:int}}/revoke")
def token_revoke(request: Request, token_id: int, ui: UI, user: User, form: Form) -> Response:
    with ui.container.uow() as uow:
        auth.revoke_token(uow.session, ui.container.settings.secret_key, user.user_id, token_id)
        uow.commit()
    return _back("token_revoked")
