"""RFC 9457 problem+json answers for every error, rendered in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from rapport.api.responses import JSONResponse
from rapport.errors import RapportError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://rapport.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_errors(exc: RequestValidationError) -> Response:
    items = []
    malformed = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            malformed = True
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            message = "unknown field; check the spelling or declare a custom field"
        items.append({"field": _field(tuple(err.get("loc", ()))), "message": message,
                      "code": str(err.get("type", "invalid"))})
    if malformed:
        return problem(400, "malformed_json", "Malformed JSON",
                       "The request body is not valid JSON: " + items[0]["message"], items)
    return problem(422, "validation_failed", "Input failed validation",
                   "Some fields are invalid; see errors", items)


def install(app: FastAPI) -> None:
    @app.exception_handler(RapportError)
    async def _domain(request: Request, exc: RapportError) -> Response:
        if exc.status == 404:
            log.info("not found: %s %s", request.method, request.url.path)
        retry_after = getattr(exc, "retry_after", None)
        return problem(
            exc.status, exc.code, exc.title, exc.detail,
            [{"field": e.field, "message": e.message, "code": e.code} for e in exc.errors],
            headers={"Retry-After": str(retry_after)} if retry_after else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        return _validation_errors(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {
            400: "malformed_json",  # FastAPI raises 400 only when the body cannot be parsed
            401: "unauthenticated",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail),
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> Response:
        return problem(400, "json_too_deep", "JSON nested too deeply",
                       "The request body is nested too deeply; flatten it")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        from rapport.api.headers import COMMON, PAGE_POLICY

        # Starlette answers this outside every middleware, so the secure headers go on here
        headers = {**dict(COMMON), "content-security-policy": PAGE_POLICY}
        return problem(500, "internal_error", "Internal error",
                       "Something went wrong on our side; the error was logged", headers=headers)
