"""``Idempotency-Key``: the first answer is stored in the write's own transaction and replayed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select
from starlette.responses import Response

from rapport.api.responses import JSONResponse, dumps
from rapport.db.base import utcnow
from rapport.db.idempotency import IdempotencyKey
from rapport.db.uow import UnitOfWork
from rapport.errors import Conflict, ValidationFailed

MAX_KEY = 200


def run_idempotent(
    uow: UnitOfWork,
    user_id: int,
    key: str | None,
    request_fingerprint: Any,
    action: Callable[[], tuple[int, Any]],
    keep_hours: int,
) -> Response:
    """Run ``action`` (which writes through ``uow``) once per key; commit; answer."""
    if key is None:
        status, body = action()
        uow.commit()
        return JSONResponse(body, status_code=status)
    if not key or len(key) > MAX_KEY:
        raise ValidationFailed(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
    try:
        digest = hashlib.sha256(dumps(request_fingerprint)).hexdigest()
    except orjson.JSONEncodeError as exc:  # nested deeper than orjson's 254 levels
        raise ValidationFailed("The request body is nested too deeply; flatten it") from exc
    session = uow.session
    session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - timedelta(hours=keep_hours))
    )
    stored = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    if stored is not None:
        if stored.request_hash != digest:
            raise Conflict("This Idempotency-Key was used with a different request; use a new key")
        return JSONResponse(
            orjson.loads(stored.response_body),
            status_code=stored.status_code,
            headers={"Idempotent-Replayed": "true"},
        )
    status, body = action()
    session.add(
        IdempotencyKey(
            user_id=user_id, key=key, request_hash=digest, status_code=status,
            response_body=dumps(body).decode(),
        )
    )
    uow.commit()
    return JSONResponse(body, status_code=status)
