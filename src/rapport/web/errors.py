"""HTML answers for domain errors on UI paths; API paths keep their problem+json answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from rapport.errors import RapportError

log = logging.getLogger(__name__)
Handler = Callable[[Request, Any], Awaitable[Response] | Response]
API_PATHS = ("/api/", "/healthz", "/static/")


def is_ui_path(request: Request) -> bool:
    return not request.url.path.startswith(API_PATHS)


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = "/login" if target in ("/", "/logout") else f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def error_page(request: Request, status: int, title: str, detail: str,
               errors: list[str] | None = None) -> Response:
    from rapport.web.rendering import web_ui
    from rapport.web.security import current_principal

    ui = web_ui(request)
    user = getattr(request.state, "principal", None)
    if user is None:
        try:
            user = current_principal(request, ui.container)
        except RapportError:
            user = None
    return ui.render(
        request, "error.html",
        {"status": status, "title": title, "detail": detail, "errors": errors or [],
         "back_url": _same_site_referer(request)},
        user=user, status=status,
    )


def _same_site_referer(request: Request) -> str | None:
    """The page the user came from, when it is one of ours (never another site's URL)."""
    from urllib.parse import urlsplit

    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or not referer.path.startswith("/"):
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


def install(app: FastAPI) -> None:
    """Wrap the API's handlers: UI paths get pages (401 → login), the API is unchanged."""
    api_domain: Handler | None = app.exception_handlers.get(RapportError)
    api_http: Handler | None = app.exception_handlers.get(StarletteHTTPException)
    api_any: Handler | None = app.exception_handlers.get(Exception)
    api_integrity: Handler | None = app.exception_handlers.get(IntegrityError)

    async def _delegate(handler: Handler | None, request: Request, exc: Exception) -> Response:
        assert handler is not None
        result = handler(request, exc)
        if isinstance(result, Response):
            return result
        return await result

    async def domain(request: Request, exc: RapportError) -> Response:
        if not is_ui_path(request) and api_domain is not None:
            return await _delegate(api_domain, request, exc)
        if exc.status == 401:
            return login_redirect(request)
        return error_page(request, exc.status, exc.title, exc.detail,
                          [f"{e.field}: {e.message}" for e in exc.errors])

    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_ui_path(request) and api_http is not None:
            return await _delegate(api_http, request, exc)
        title = {404: "Page not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        return error_page(request, exc.status_code, title, str(exc.detail))

    async def unexpected(request: Request, exc: Exception) -> Response:
        if not is_ui_path(request) and api_any is not None:
            return await _delegate(api_any, request, exc)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        from rapport.api.headers import COMMON, PAGE_POLICY

        page = error_page(request, 500, "Something went wrong",
                          "The error was logged; please try again.")
        # answered outside every middleware: the secure headers go on here
        page.headers.update({**dict(COMMON), "content-security-policy": PAGE_POLICY})
        return page

    async def integrity(request: Request, exc: IntegrityError) -> Response:
        if not is_ui_path(request) and api_integrity is not None:
            return await _delegate(api_integrity, request, exc)
        return error_page(request, 409, "Conflict",
                          "The change conflicts with an existing record (a unique value is "
                          "already used, or a referenced record is still in use)")

    app.add_exception_handler(IntegrityError, integrity)  # type: ignore[arg-type]
    app.add_exception_handler(RapportError, domain)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
