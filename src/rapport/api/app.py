"""The FastAPI application: API under /api/v1, web UI at /, health at /healthz."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from rapport import __version__
from rapport.api import (
    accounts,
    analytics,
    audit,
    collector,
    consents,
    health,
    hub,
    meta,
    privacy,
    profiles,
    records,
    roles,
    sdk,
    security,
    webhook_source,
)
from rapport.api.deps import refuse_nul
from rapport.api.headers import SecureHeaders
from rapport.api.limits import BodySizeLimit
from rapport.api.problems import install as install_problems
from rapport.api.problems import problem
from rapport.api.responses import JSONResponse
from rapport.bootstrap import Container, bootstrap
from rapport.config import Settings
from rapport.events.crm_source import start as start_crm_source
from rapport.events.hub_bus import InProcessEventBus
from rapport.events.processors import EmbeddedProcessors

API_PREFIX = "/api/v1"
log = logging.getLogger(__name__)


@asynccontextmanager
async def _outbox_relay(app: FastAPI) -> AsyncIterator[None]:
    """Publish committed domain events in the background while the server runs."""
    container: Container = app.state.container
    stop = threading.Event()
    crm_events = start_crm_source(container)  # CRM changes -> hub events (events/crm_source.py)
    thread = threading.Thread(
        target=container.relay.run_forever, args=(stop,), name="outbox-relay", daemon=True
    )
    thread.start()
    hub_processors = _start_hub_processors(container)
    try:
        yield
    finally:
        stop.set()
        container.relay.notify()
        thread.join(timeout=5)
        crm_events.flush(timeout=5)
        if hub_processors is not None:
            hub_processors.stop()
        close_bus = getattr(container.event_bus, "close", None)
        if close_bus is not None:
            close_bus()  # NATS: flush queued publishes (the catch-up covers the rest)


def _start_hub_processors(container: Container) -> EmbeddedProcessors | None:
    """Embedded default: the server processes hub events itself (docs/bus.md); with NATS,
    ``rapport worker`` does."""
    if not isinstance(container.event_bus, InProcessEventBus):
        return None
    processors = EmbeddedProcessors(container.session_factory, container.settings,
                                    container.event_bus)
    try:
        processors.start()
    except ImportError as exc:  # the pipeline module is missing from this build
        log.error("hub processors not started (%s): events are stored, not processed", exc)
        return None
    return processors


def bind_container(app: FastAPI, container: Container) -> None:
    """Point an existing app at another container (tests reuse one app across databases)."""
    from rapport.web import rebind

    app.state.container = container
    rebind(app, container)


def create_app(
    container: Container | None = None,
    settings: Settings | None = None,
    *,
    run_outbox_relay: bool = False,
) -> FastAPI:
    """The app; ``run_outbox_relay`` starts the relay thread (the server does, tests drain)."""
    container = container or bootstrap(settings)
    app = FastAPI(
        lifespan=_outbox_relay if run_outbox_relay else None,
        title="Rapport API",
        version=__version__,
        description="Records, pipelines, custom fields and search. Authenticate with "
        "'Authorization: Bearer <token>' (create one with `rapport token create`).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        default_response_class=JSONResponse,
    )
    app.state.container = container
    install_problems(app)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> Response:
        return problem(409, "conflict", "Conflict",
                       "The change conflicts with an existing record (a unique value is already "
                       "used, or a referenced record is still in use)")

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(refuse_nul)])
    for module in (meta, accounts, roles, consents, privacy, audit, security, analytics, health,
                   hub, profiles):
        api.include_router(module.router)
    api.include_router(records.router)  # generic /{object} routes last
    app.include_router(api)
    app.include_router(collector.router)  # Segment-compatible /v1/*, at the root
    app.include_router(sdk.router)  # /sdk/rapport.js, before the UI's generic page routes
    app.include_router(webhook_source.router)  # POST /v1/webhook (mapped third-party JSON)

    @app.get("/healthz", tags=["Health"], summary="Liveness and database check")
    def healthz() -> Response:
        with container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "version": __version__})

    from rapport.web import mount as mount_web

    mount_web(app, container)

    app.add_middleware(BodySizeLimit, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(SecureHeaders, docs_paths=(f"{API_PREFIX}/docs",))  # outermost
    return app
