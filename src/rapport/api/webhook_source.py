"""``POST /v1/webhook``: generic inbound JSON from a third party, turned into events by the
source's declarative mapping (rapport.events.webhook_mapping; docs/sources.md).

Authentication is the source's write key, as on the collector: the HTTP Basic user, or
``?writeKey=`` for vendors whose webhook settings cannot send Basic credentials (a key in a
URL ends up in access logs: prefer Basic). A payload that is not JSON, or that the mapping
cannot map, is kept as a dead letter with the reason and answered 400 (most vendors then
retry, so a delivery that failed before the mapping was fixed arrives again).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rapport.api.problems import problem
from rapport.api.responses import JSONResponse
from rapport.bootstrap import Container
from rapport.db.base import utcnow
from rapport.errors import RapportError
from rapport.events import collector, sources
from rapport.events.webhook_mapping import Unmappable, apply, record_dead_letter

router = APIRouter(tags=["Collector"])

_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not JSON, or the mapping cannot map it (kept as a dead letter)"},
    401: {"description": "Missing or unknown write key"},
    409: {"description": "The source has no usable webhook mapping"},
    413: {"description": "The body is larger than batch_max_bytes"},
}
_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "additionalProperties": True}}}}}


def _write_key(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and value.strip():
        try:
            user = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return request.query_params.get("writeKey") or None


def _kept(code: str, reason: str, dead_id: int) -> Response:
    response = problem(400, code, "Webhook refused", f"{reason} (kept as dead letter {dead_id}; "
                       "fix the source's mapping, then replay it)")
    body = orjson.loads(response.body)
    body["dead_letter_id"] = dead_id
    return JSONResponse(body, status_code=400, media_type="application/problem+json")


def _receive(container: Container, key: str | None, body: bytes, client_ip: str | None,
             user_agent: str | None) -> Response:
    received_at = utcnow()
    with container.uow() as uow:
        source = sources.authenticate(uow.session, key)
        if not source.mapping:
            return problem(409, "no_mapping", "No webhook mapping",
                           f"Source {source.name!r} has no mapping: set one that says how the "
                           "payload becomes an event (docs/sources.md)")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            dead_id = collector.dead_letter(uow.session, source.id, "malformed_json",
                                            f"The body is not valid JSON: {exc}", body,
                                            received_at=received_at)
            uow.commit()
            return _kept("malformed_json", f"The body is not valid JSON: {exc}", dead_id)
        try:
            events = apply(source.mapping, payload)
        except Unmappable as exc:
            dead_id = record_dead_letter(uow.session, source.id, "unmappable", exc.reason, body)
            uow.commit()
            return _kept("unmappable", exc.reason, dead_id)
        for event in events:
            context = event.setdefault("context", {})
            if isinstance(context, dict):
                context.setdefault("channel", source.channel)
        result = collector.ingest(uow.session, container.settings, source, events,
                                  received_at=received_at, client_ip=client_ip,
                                  user_agent=user_agent)
        uow.commit()
    container.event_bus.publish(result.stored)
    refused = result.refused
    if refused and len(events) == 1:
        return _kept(refused[0].code or "refused", refused[0].reason or "",
                     refused[0].dead_letter_id or 0)
    answer: dict[str, Any] = {"success": not refused, **result.summary()}
    if refused:
        answer["refused"] = [o.as_json() for o in refused]
    return JSONResponse(answer)


@router.post("/v1/webhook", summary="Receive a third-party webhook (mapped to events)",
             openapi_extra=_BODY, responses=_ANSWERS)
async def receive_webhook(request: Request) -> Response:
    """Map the JSON body to events with the source's mapping and store them. Authenticate
    with the source's write key as the HTTP Basic user (or ``?writeKey=``)."""
    container: Container = request.app.state.container
    limit = container.settings.batch_max_bytes
    declared = request.headers.get("content-length", "")
    too_large = problem(413, "payload_too_large", "Payload too large",
                        f"Webhook bodies are limited to {limit} bytes")
    if declared.isdigit() and int(declared) > limit:
        return too_large
    body = await request.body()
    if len(body) > limit:
        return too_large
    client_ip = request.client.host if request.client else None
    try:
        return await run_in_threadpool(_receive, container, _write_key(request), body, client_ip,
                                       request.headers.get("user-agent"))
    except RapportError as exc:
        return problem(exc.status, exc.code, exc.title, exc.detail)
