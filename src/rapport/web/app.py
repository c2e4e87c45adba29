"""``mount``: add the server-rendered UI (pages at ``/``, files at ``/static``) to the app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from rapport.bootstrap import Container
from rapport.web import errors
from rapport.web.rendering import WebUI
from rapport.web.routes import (
    accounts,
    admin,
    analytics,
    audit,
    auth,
    board,
    consents,
    health,
    home,
    hub,
    inbox,
    privacy,
    profiles,
    records,
    roles,
    security,
)

STATIC = Path(__file__).parent / "static"


def rebind(app: FastAPI, container: Container) -> None:
    """Serve pages from another container without rebuilding templates and catalogs."""
    web = app.state.web
    app.state.web = type(web)(container, web.envs, web.translations)


def mount(app: FastAPI, container: Container) -> None:
    """Register the UI after the API, so ``/api/v1`` routes keep precedence."""
    app.state.web = WebUI.create(container)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Fixed paths first; the generic /{object_name} pages come last.
    for module in (auth, home, board, inbox, admin, accounts, roles, consents, privacy, audit,
                   security, analytics, health, profiles, hub, records):
        app.include_router(module.router, include_in_schema=False)
    errors.install(app)
