"""Dependencies of the web routes: the UI, the signed-in user and CSRF-checked form data."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from rapport.bootstrap import Container
from rapport.crm.service import Actor
from rapport.errors import Forbidden
from rapport.trust.auth import Principal
from rapport.web.rendering import WebUI, web_ui
from rapport.web.security import CSRF_FIELD, check_csrf, current_principal

UI = Annotated[WebUI, Depends(web_ui)]


def _container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def require_user(request: Request) -> Principal:
    """The signed-in user; anonymous browsers are sent to the login page."""
    return current_principal(request, _container(request))


User = Annotated[Principal, Depends(require_user)]


def require_admin(user: User) -> Principal:
    if not user.is_admin:
        raise Forbidden("Only administrators can open this page")
    return user


Admin = Annotated[Principal, Depends(require_admin)]


async def checked_form(request: Request) -> FormData:
    """The submitted form, after its CSRF token was checked against the session."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    check_csrf(request, _container(request), str(token) if isinstance(token, str) else None)
    return form


Form = Annotated[FormData, Depends(checked_form)]


def actor_for(user: Principal, request: Request) -> Actor:
    from rapport.api.deps import actor_for as api_actor_for

    return api_actor_for(user, request, "ui")


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
