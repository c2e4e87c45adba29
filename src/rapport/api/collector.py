"""Segment-compatible collector endpoints at ``/v1/*`` (not under /api/v1: clients append
``/v1/track`` to the host they are given).

Authentication is the source's write key as the HTTP Basic user (empty password), exactly as
Segment clients send it, or ``writeKey`` in the JSON body (Segment's HTTP API; analytics.js
posts ``text/plain`` bodies this way to avoid a CORS preflight). Events are committed before
the answer. Answers and outcomes: docs/collector.md.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rapport.api.problems import problem
from rapport.api.responses import JSONResponse
from rapport.bootstrap import Container
from rapport.db.base import utcnow
from rapport.db.engine import writer_lock
from rapport.db.uow import UnitOfWork
from rapport.errors import RapportError
from rapport.events import collector, sources

router = APIRouter(tags=["Collector"])

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "86400",
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    },
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The event was refused (kept as a dead letter) or the body is not JSON"},
    401: {"description": "Missing or unknown write key"},
    413: {"description": "The request body is larger than batch_max_bytes"},
}


def _write_key(request: Request, parsed: Any) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, _password = decoded.partition(":")
        return user or None
    if isinstance(parsed, dict) and isinstance(parsed.get("writeKey"), str):
        return str(parsed["writeKey"]) or None
    return None


def _error(exc: RapportError) -> Response:
    return problem(exc.status, exc.code, exc.title, exc.detail,
                   [{"field": e.field, "message": e.message, "code": e.code} for e in exc.errors],
                   headers=CORS)


def _batch_items(body: dict[str, Any]) -> list[Any]:
    """The batch's messages, with the batch's ``context`` and ``sentAt`` filled in each."""
    shared = body.get("context")
    sent_at = body.get("sentAt")
    items: list[Any] = []
    for item in body["batch"]:
        if isinstance(item, dict):
            merged = dict(item)
            if isinstance(shared, dict):
                own = item.get("context")
                if own is None:
                    merged["context"] = shared
                elif isinstance(own, dict):
                    merged["context"] = {**shared, **own}
            if sent_at is not None and "sentAt" not in item:
                merged["sentAt"] = sent_at
            items.append(merged)
        else:
            items.append(item)
    return items


def _collect(container: Container, call: str, body: bytes, parsed: Any, malformed: str | None,
             key: str | None, client_ip: str | None, user_agent: str | None) -> Response:
    received_at = utcnow()
    settings = container.settings
    # a plain unit of work: the collector writes no outbox rows, so waking the outbox relay
    # after each of its commits (container.uow) would only make it poll for nothing
    with writer_lock(container.engine), UnitOfWork(container.session_factory) as uow:
        source = sources.authenticate(uow.session, key)
        problem_text = (f"The body is not valid JSON: {malformed}" if malformed is not None
                        else _BAD_BATCH if call == "batch" and not (
                            isinstance(parsed, dict) and isinstance(parsed.get("batch"), list))
                        else None)
        if problem_text is not None:
            code = "malformed_json" if malformed is not None else "bad_batch"
            dead_id = collector.dead_letter(uow.session, source.id, code, problem_text, body,
                                            received_at=received_at)
            uow.commit()
            return _refused(code, problem_text, collector.Outcome(
                0, "dead_letter", code=code, reason=problem_text, dead_letter_id=dead_id))
        if call == "batch":
            items = _batch_items(parsed)
            result = collector.ingest(uow.session, settings, source, items,
                                      received_at=received_at, client_ip=client_ip,
                                      user_agent=user_agent)
        else:
            result = collector.ingest(
                uow.session, settings, source, [parsed], received_at=received_at,
                client_ip=client_ip, user_agent=user_agent, call=call,
                originals=[body.decode("utf-8", "backslashreplace")])
        uow.commit()
    container.event_bus.publish(result.stored)
    refused = result.refused
    if call != "batch" and refused:
        return _refused(refused[0].code or "refused", refused[0].reason or "", refused[0])
    answer: dict[str, Any] = {"success": not refused, **result.summary()}
    if refused:
        answer["refused"] = [o.as_json() for o in refused]
    return JSONResponse(answer, headers=CORS)


_BAD_BATCH = 'a batch body must be a JSON object with a "batch" list of events'


def _refused(code: str, reason: str, outcome: collector.Outcome) -> Response:
    response = problem(400, code, "Event refused", f"{reason} (kept as dead letter "
                       f"{outcome.dead_letter_id}; fix and replay it)", headers=CORS)
    body = orjson.loads(response.body)
    body["dead_letter_id"] = outcome.dead_letter_id
    if outcome.message_id:
        body["messageId"] = outcome.message_id
    return JSONResponse(body, status_code=400, media_type="application/problem+json", headers=CORS)


async def _handle(request: Request, call: str) -> Response:
    container: Container = request.app.state.container
    limit = container.settings.batch_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _too_large(limit)
    body = await request.body()
    if len(body) > limit:
        return _too_large(limit)
    if request.headers.get("content-encoding", "").strip().lower() == "gzip":
        # analytics-python's gzip option; inflated at most to the limit (no zip bombs)
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error:
            return problem(400, "bad_encoding", "Bad encoding", "The body is not valid gzip",
                           headers=CORS)
        if len(body) > limit or inflater.unconsumed_tail:
            return _too_large(limit)
    parsed: Any = None
    malformed: str | None = None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        malformed = str(exc)
    client_ip = request.client.host if request.client else None
    try:
        return await run_in_threadpool(
            _collect, container, call, body, parsed, malformed, _write_key(request, parsed),
            client_ip, request.headers.get("user-agent"))
    except RapportError as exc:
        return _error(exc)


def _too_large(limit: int) -> Response:
    return problem(413, "payload_too_large", "Payload too large",
                   f"Requests to the collector are limited to {limit} bytes; send smaller "
                   "batches", headers=CORS)


def _route(call: str, summary: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await _handle(request, call)

    endpoint.__name__ = f"collect_{call}"
    endpoint.__doc__ = (f"{summary}. Authenticate with the source's write key as the HTTP "
                        "Basic user (or writeKey in the body).")
    router.add_api_route(f"/v1/{call}", endpoint, methods=["POST"], summary=summary,
                         openapi_extra=_BODY, responses=_ANSWERS)


for _call, _summary in (
    ("track", "Record an event (Segment-compatible)"),
    ("identify", "Identify a user and their traits (Segment-compatible)"),
    ("page", "Record a page view (Segment-compatible)"),
    ("screen", "Record a screen view (Segment-compatible)"),
    ("group", "Associate a user with a group (Segment-compatible)"),
    ("alias", "Link a new user id to a previous one (Segment-compatible)"),
    ("batch", "Send several events at once (Segment-compatible)"),
):
    _route(_call, _summary)


@router.options("/v1/{path:path}", include_in_schema=False)
async def preflight(path: str) -> Response:
    """CORS preflight: browsers on any origin may post events with a write key."""
    return Response(status_code=204, headers=CORS)
