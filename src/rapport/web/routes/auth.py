"""Sign in, sign out and the language switcher."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from rapport.api.deps import SESSION_COOKIE
from rapport.errors import Unauthenticated, ValidationFailed
from rapport.trust.auth import authenticate_password, end_session, set_locale, start_session
from rapport.web.deps import UI, Form, User
from rapport.web.i18n import LOCALES
from rapport.web.security import (
    LANG_COOKIE,
    raw_session_id,
    set_session_cookie,
)

router = APIRouter()


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths, so the login form cannot be used as an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@router.get("/login")
def login_page(
    request: Request, ui: UI, next_: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    return ui.render(request, "login.html", {"next": safe_next(next_), "error": None, "email": ""})


@router.post("/login")
def login(request: Request, ui: UI, form: Form) -> Response:
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or ""))
    container = ui.container
    with container.uow() as uow:
        try:
            principal = authenticate_password(uow.session, email, password)
        except Unauthenticated as exc:
            return ui.render(request, "login.html",
                             {"next": target, "error": exc.detail, "email": email}, status=401)
        raw = start_session(uow.session, principal.user_id, container.settings.session_hours,
                            request.headers.get("user-agent"))
        uow.commit()
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, container, raw)
    return response


@router.post("/logout")
def logout(request: Request, ui: UI, form: Form) -> Response:
    raw = raw_session_id(request, ui.container)
    if raw:
        with ui.container.uow() as uow:
            end_session(uow.session, raw)
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
        set_locale(uow.session, user.user_id, locale)
        uow.commit()
    response = RedirectResponse(safe_next(str(form.get("next") or "")), status_code=303)
    response.set_cookie(LANG_COOKIE, locale, samesite="lax", max_age=365 * 86400)
    return response
