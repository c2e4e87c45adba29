"""ASGI entry point for uvicorn: ``rapport.api.asgi:app``."""

from rapport.api.app import create_app

app = create_app(run_outbox_relay=True)
