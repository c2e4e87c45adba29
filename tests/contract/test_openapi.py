"""The OpenAPI document: every operation summarised and tagged, and changes made on purpose.

Regenerate the snapshot after an intended API change with
``RAPPORT_UPDATE_SNAPSHOTS=1 pytest tests/contract/test_openapi.py`` and review the diff.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from rapport.api.app import create_app
from rapport.bootstrap import bootstrap
from rapport.config import Settings

SNAPSHOT = Path(__file__).parent / "openapi.snapshot.json"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The document as served at /api/v1/openapi.json (building it touches no database)."""
    database = tmp_path_factory.mktemp("openapi") / "rapport.db"
    settings = Settings(database_url=f"sqlite:///{database}", environment="test")
    container = bootstrap(settings)
    try:
        return create_app(container).openapi()
    finally:
        container.engine.dispose()


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in openapi["paths"].items()
            for method, op in item.items() if method in METHODS]


def test_every_operation_has_a_summary_and_a_tag(openapi: dict[str, Any]) -> None:
    missing = [f"{m} {p}" for m, p, op in operations(openapi)
               if not op.get("summary") or not op.get("tags")]
    assert missing == [], "operations without a summary or tag: " + ", ".join(missing)


def test_operation_ids_are_unique(openapi: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(openapi)]
    assert len(ids) == len(set(ids))


# The Segment-compatible collector answers where Segment clients send events (/v1/track...).
COLLECTOR = ("/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias",
             "/v1/batch", "/v1/webhook")


def test_the_api_lives_under_v1(openapi: dict[str, Any]) -> None:
    outside = [f"{m} {p}" for m, p, _ in operations(openapi)
               if not p.startswith("/api/v1/") and p != "/healthz" and p not in COLLECTOR]
    assert outside == []


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_document_matches_the_snapshot(openapi: dict[str, Any]) -> None:
    current = render(openapi)
    if os.environ.get("RAPPORT_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current, encoding="utf-8")
        pytest.skip(f"snapshot written to {SNAPSHOT}")
    assert SNAPSHOT.exists(), (
        f"{SNAPSHOT.name} is missing; create it with RAPPORT_UPDATE_SNAPSHOTS=1")
    stored = SNAPSHOT.read_text(encoding="utf-8")
    if current != stored:
        diff = list(difflib.unified_diff(
            stored.splitlines(), current.splitlines(), "snapshot", "current", lineterm="", n=2))
        shown = "\n".join(diff[:80]) + ("\n..." if len(diff) > 80 else "")
        pytest.fail(
            "The OpenAPI document changed. If the change is intended, regenerate the snapshot:\n"
            "  RAPPORT_UPDATE_SNAPSHOTS=1 pytest tests/contract/test_openapi.py\n"
            "then review and commit tests/contract/openapi.snapshot.json "
            "(and update docs/api.md).\n\n" + shown,
            pytrace=False,
        )
