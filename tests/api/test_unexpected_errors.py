"""An unexpected error answers a problem document, logged, with the secure headers too."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rapport.api.app import create_app
from rapport.bootstrap import Container


def test_an_unhandled_error_is_a_500_with_secure_headers_on_api_and_pages(
    container: Container,
) -> None:
    app = create_app(container)

    @app.get("/api/v1/boom", include_in_schema=False)
    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("kaboom with a secret inside")

    for _ in range(2):  # before the UI's catch-all pages
        app.router.routes.insert(0, app.router.routes.pop())

    with TestClient(app, raise_server_exceptions=False) as client:
        api = client.get("/api/v1/boom")
        page = client.get("/boom")

    assert api.status_code == page.status_code == 500
    assert api.json()["code"] == "internal_error"
    assert "Something went wrong" in page.text
    for answer in (api, page):
        assert "secret" not in answer.text
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
