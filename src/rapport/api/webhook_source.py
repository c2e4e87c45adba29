"""``POST /v1/webhook``: generic inbound JSON from a third party, turned into events by the
source's declarative mapping (rapport.events.webhook_mapping; docs/sources.md).

Authentication is the source's write key, as on the collector: the HTTP Basic user, or
``?writeKey=`` for vendors whose webhook settings cannot send Basic credentials (a key in a
URL ends up in access logs: prefer Basic). A source whose mapping has a ``signature`` block
also needs the vendor's signature over the raw body (rapport.events.webhook_signatures): a
missing, wrong or stale one is answered 401 and **not kept** (an unauthenticated body is not
ours to keep, and the vendor retries). A payload that is not JSON, or that the mapping cannot
map, is kept verbatim as a dead letter with the reason and answered 400 (most vendors then
retry, so a delivery that failed before the mapping was fixed arrives again; or replay it).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Mapping
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
from rapport.errors import RapportError
from rapport.events import collector, sources, webhook_signatures
from rapport.events.webhook_mapping import (
    PAYLOAD_FORMAT,
    Unmappable,
    events_for,
    has_field_mapping,
    mark_payload_format,
    record_dead_letter,
)

router = APIRouter(tags=["Collector"])
log = logging.getLogger(__name__)

_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not JSON, or the mapping cannot map it (kept as a dead letter)"},
    401: {"description": "Missing or unknown write key; or, when the source checks vendor "
          "signatures, a missing, wrong or stale signature (not kept)"},
    409: {"description": "The source has no usable webhook mapping, or its signing secret "
          "cannot be decrypted"},
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


def _signature_refusal(container: Container, source: sources.SourceInfo,
                       headers: Mapping[str, str], body: bytes) -> Response | None:
    """None when the source checks no signature or the request's is good; else the answer."""
    block = source.mapping.get("signature")
    if not isinstance(block, dict):
        return None
    try:
        webhook_signatures.verify(block, container.settings.secret_key, headers, body,
                                  time.time())
    except webhook_signatures.SignatureRefused as exc:
        log.warning("webhook for source %s refused: %s", source.id, exc.code)
        return problem(401, exc.code, "Webhook signature refused",
                       f"{exc.reason}. The body was not stored.")
    except webhook_signatures.SecretUnreadable as exc:
        log.error("webhook for source %s: %s", source.id, exc)
        return problem(409, "signature_secret_unreadable", "Signing secret unreadable",
                       f"Source {source.name!r}: {exc}. The body was not stored.")
    return None


def _receive(container: Container, key: str | None, body: bytes, headers: Mapping[str, str],
             client_ip: str | None, user_agent: str | None) -> Response:
    received_at = utcnow()
    with writer_lock(container.engine), container.uow() as uow:
        source = sources.authenticate(uow.session, key)
        refusal = _signature_refusal(container, source, headers, body)
        if refusal is not None:
            return refusal
        if not has_field_mapping(source.mapping):
            return problem(409, "no_mapping", "No webhook mapping",
                           f"Source {source.name!r} has no mapping: set one that says how the "
                           "payload becomes an event (docs/sources.md)")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            reason = f"The body is not valid JSON: {exc}"
            dead_id = record_dead_letter(uow.session, source.id, "malformed_json", reason, body,
                                         payload_format=PAYLOAD_FORMAT, received_at=received_at)
            uow.commit()
            return _kept("malformed_json", reason, dead_id)
        try:
            events = events_for(source.mapping, source.channel, payload)
        except Unmappable as exc:
            dead_id = record_dead_letter(uow.session, source.id, exc.code, exc.reason, body,
                                         payload_format=PAYLOAD_FORMAT, received_at=received_at)
            uow.commit()
            return _kept(exc.code, exc.reason, dead_id)
        # one event: a refusal keeps the vendor's body (replayed through the mapping again);
        # several (``each``): each refused event is kept as the event it was mapped to
        single = len(events) == 1
        result = collector.ingest(uow.session, container.settings, source, events,
                                  received_at=received_at, client_ip=client_ip,
                                  user_agent=user_agent,
                                  originals=[collector.payload_text(body)] if single else None)
        if single:
            mark_payload_format(uow.session, [o.dead_letter_id for o in result.refused
                                              if o.dead_letter_id is not None], PAYLOAD_FORMAT)
        uow.commit()
    container.event_bus.publish(result.stored)
    refused = result.refused
    if refused and single:
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
    with the source's write key as the HTTP Basic user (or ``?writeKey=``), plus the vendor's
    signature header when the source's mapping has a ``signature`` block."""
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
        return await run_in_threadpool(_receive, container, _write_key(request), body,
                                       request.headers, client_ip,
                                       request.headers.get("user-agent"))
    except RapportError as exc:
        return problem(exc.status, exc.code, exc.title, exc.detail)
