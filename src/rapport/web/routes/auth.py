"""Sign in (password, then a two-factor code when the account has one), sign out, language.

Between the password and the code the browser holds a short-lived signed ticket ("the
password was right for user N"), bound to its pre-session login cookie. It is not a session:
nothing is signed in until the code is accepted. A user whose role requires two-factor and
who has none yet enrols right there, on the second step.
"""

from __future__ import annotations

import hashlib
import math
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.responses import RedirectResponse, Response

from rapport.api.deps import SESSION_COOKIE
from rapport.bootstrap import Container
from rapport.errors import ValidationFailed
from rapport.trust import auth
from rapport.trust.network import is_trusted
from rapport.trust.throttle import AddressThrottle, for_client
from rapport.web.deps import UI, Form, User
from rapport.web.i18n import LOCALES
from rapport.web.security import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    raw_session_id,
    set_session_cookie,
)

router = APIRouter()
TICKET_SECONDS = 300
STEPS = ("totp", "enrol")


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so the login form cannot be used as an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def client_network(request: Request, container: Container) -> str:
    """``trusted`` or ``untrusted`` for the audit log (never the address itself)."""
    client = request.client.host if request.client else None
    return "trusted" if is_trusted(client, container.settings.trusted_networks) else "untrusted"


def _throttle(request: Request, container: Container) -> AddressThrottle | None:
    settings = container.settings
    return for_client(settings.secret_key, request.client.host if request.client else None,
                      settings.login_address_failures, settings.login_address_minutes)


# ---- the second-step ticket --------------------------------------------------------------


def _tickets(container: Container) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(container.settings.secret_key, salt="rapport-login-second-step")


def _browser(request: Request) -> str:
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    return hashlib.sha256(nonce.encode()).hexdigest()[:24]


def _make_ticket(request: Request, container: Container, user_id: int, step: str,
                 target: str) -> str:
    return _tickets(container).dumps({"u": user_id, "s": step, "n": target, "b": _browser(request)})


def _read_ticket(request: Request, container: Container, ticket: str) -> dict[str, Any] | None:
    try:
        data = _tickets(container).loads(ticket, max_age=TICKET_SECONDS)
    except (BadSignature, SignatureExpired):
        return None
    if (not isinstance(data, dict) or data.get("s") not in STEPS
            or not isinstance(data.get("u"), int) or data.get("b") != _browser(request)):
        return None
    return data


# ---- messages ----------------------------------------------------------------------------


def _message(ui: UI, request: Request, result: auth.LoginResult) -> str:
    _ = ui.gettext(ui.locale_for(request, None))
    if result.status == "locked":
        minutes = max(1, math.ceil(result.retry_after / 60))
        return str(_("Too many failed sign-ins: this account is locked. "
                     "Try again in %(minutes)s min.") % {"minutes": minutes})
    if result.status == "throttled":
        minutes = max(1, math.ceil(result.retry_after / 60))
        return str(_("Too many failed sign-ins from your network. "
                     "Try again in %(minutes)s min.") % {"minutes": minutes})
    if result.status == "held":
        return str(_("This account is locked after unusual activity; "
                     "an administrator must unlock it."))
    if result.reason == "totp_reused":
        return str(_("This code was already used; wait for the next one."))
    if result.reason in ("totp", "totp_malformed"):
        return str(_("Wrong code; enter the 6-digit code your authenticator app shows now."))
    if result.reason == "unreadable":
        return str(_("Two-factor sign-in cannot be checked for this account; "
                     "ask an administrator to reset it."))
    return str(_("Wrong email or password"))


def _refused(ui: UI, request: Request, result: auth.LoginResult, target: str,
             email: str = "") -> Response:
    """Back to the password form with the reason (401, locked 429 with Retry-After, 403)."""
    status = {"locked": 429, "throttled": 429, "held": 403}.get(result.status, 401)
    headers = ({"Retry-After": str(result.retry_after)}
               if result.status in ("locked", "throttled") else None)
    return ui.render(request, "login.html", {
        "step": "password", "next": target, "error": _message(ui, request, result),
        "email": email,
    }, status=status, headers=headers)


def _signed_in(request: Request, container: Container, raw: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, container, raw)
    return response


def _code_step(ui: UI, request: Request, step: str, ticket: str, target: str,
               enrolment: auth.TotpEnrolment | None = None, error: str | None = None,
               status: int = 200) -> Response:
    return ui.render(request, "login.html", {
        "step": step, "ticket": ticket, "next": target, "error": error, "email": "",
        "enrolment": enrolment,
    }, status=status)


# ---- routes ------------------------------------------------------------------------------


@router.get("/login")
def login_page(
    request: Request, ui: UI, next_: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    return ui.render(request, "login.html",
                     {"step": "password", "next": safe_next(next_), "error": None, "email": ""})


@router.post("/login")
def login(request: Request, ui: UI, form: Form) -> Response:
    email = str(form.get("email") or "").strip()[:320]
    password = str(form.get("password") or "")[:1024]
    target = safe_next(str(form.get("next") or ""))
    container = ui.container
    secret = container.settings.secret_key
    enrolment = None
    raw = None
    with container.uow() as uow:
        result = auth.begin_login(uow.session, secret, email, password,
                                  network=client_network(request, container),
                                  throttle=_throttle(request, container))
        if result.status == "ok" and result.user_id is not None:
            raw = auth.start_session(uow.session, result.user_id,
                                     container.settings.session_hours,
                                     request.headers.get("user-agent"))
        elif result.status == "enrol" and result.user_id is not None:
            enrolment = auth.start_totp_enrolment(uow.session, secret, result.user_id)
        uow.commit()
    if raw is not None:
        return _signed_in(request, container, raw, target)
    if result.status in STEPS and result.user_id is not None:
        ticket = _make_ticket(request, container, result.user_id, result.status, target)
        return _code_step(ui, request, result.status, ticket, target, enrolment)
    return _refused(ui, request, result, target, email)


@router.post("/login/code")
def login_code(request: Request, ui: UI, form: Form) -> Response:
    container = ui.container
    secret = container.settings.secret_key
    ticket = str(form.get("ticket") or "")
    code = str(form.get("code") or "")[:20]
    data = _read_ticket(request, container, ticket)
    if data is None:
        _ = ui.gettext(ui.locale_for(request, None))
        return ui.render(request, "login.html", {
            "step": "password", "next": safe_next(str(form.get("next") or "")), "email": "",
            "error": _("Your sign-in took too long; enter your password again."),
        }, status=401)
    user_id, step, target = int(data["u"]), str(data["s"]), safe_next(str(data.get("n") or ""))
    raw = None
    enrolment = None
    with container.uow() as uow:
        network = client_network(request, container)
        if step == "totp":
            result = auth.finish_login_totp(uow.session, secret, user_id, code, network=network,
                                            throttle=_throttle(request, container))
        else:
            result = auth.finish_login_enrolment(uow.session, secret, user_id, code,
                                                 network=network)
            if result.status == "failed" and result.reason.startswith("totp"):
                enrolment = auth.pending_enrolment(uow.session, secret, user_id)
        if result.status == "ok":
            raw = auth.start_session(uow.session, user_id, container.settings.session_hours,
                                     request.headers.get("user-agent"))
        uow.commit()
    if raw is not None:
        return _signed_in(request, container, raw, target)
    if result.status == "failed" and result.reason.startswith("totp"):
        return _code_step(ui, request, step, ticket, target, enrolment,
                          _message(ui, request, result), status=401)
    return _refused(ui, request, result, target)


@router.post("/logout")
def logout(request: Request, ui: UI, form: Form) -> Response:
    raw = raw_session_id(request, ui.container)
    if raw:
        with ui.container.uow() as uow:
            auth.end_session(uow.session, raw)
            uow.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/locale")
def switch_locale(request: Request, ui: UI, user: User, form: Form) -> Response:
    locale = str(form.get("locale") or "")
    if locale not in LOCALES:
        raise ValidationFailed(f"Choose one of: {', '.join(LOCALES)}")
    with ui.container.uow() as uow:
        auth.set_locale(uow.session, user.user_id, locale)
        uow.commit()
    response = RedirectResponse(safe_next(str(form.get("next") or "")), status_code=303)
    response.set_cookie(LANG_COOKIE, locale, samesite="lax", max_age=365 * 86400)
    return response
