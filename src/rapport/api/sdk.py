"""``GET /sdk/rapport.js``: the web SDK, a static file websites load from the Rapport host.

Served with a day of caching (a new SDK reaches visitors within a day; the ETag makes the
revalidation cheap) and CORS open to every origin, since it is meant to be loaded by other
sites. It is not part of the API schema.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

SDK_FILE = Path(__file__).resolve().parents[1] / "web" / "static" / "sdk" / "rapport.js"
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def _sdk() -> tuple[bytes, str]:
    body = SDK_FILE.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get("/sdk/rapport.js")
def web_sdk(request: Request) -> Response:
    body, etag = _sdk()
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)
