"""docs/api.md lists every endpoint of the OpenAPI document, and nothing that does not exist."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rapport.api.app import create_app
from rapport.bootstrap import bootstrap
from rapport.config import Settings

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# An entry of the endpoint list: "- `GET /api/v1/contacts` — List contacts"
ENTRY = re.compile(rf"^- `({'|'.join(METHODS)}) (/\S+)` — (.+)$")
# Any other mention in the prose, e.g. "GET /api/v1/schema/{{object}}" or "POST /api/v1/search?q="
MENTION = re.compile(rf"\b({'|'.join(METHODS)}) (/api/v1/[^\s`?)]*)")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    database = tmp_path_factory.mktemp("docs") / "rapport.db"
    container = bootstrap(Settings(database_url=f"sqlite:///{database}", environment="test"))
    try:
        document: dict[str, Any] = create_app(container).openapi()
    finally:
        container.engine.dispose()
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method.upper() in METHODS}


def listed() -> list[tuple[str, str]]:
    entries = []
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        match = ENTRY.match(line.strip())
        if match:
            entries.append((match.group(1), match.group(2)))
    return entries


def test_every_endpoint_is_documented(served: set[tuple[str, str]]) -> None:
    missing = sorted(served - set(listed()))
    assert not missing, "add to docs/api.md: " + ", ".join(f"{m} {p}" for m, p in missing)


def test_every_documented_endpoint_exists(served: set[tuple[str, str]]) -> None:
    entries = listed()
    unknown = sorted(set(entries) - served)
    assert not unknown, "docs/api.md lists endpoints the API lacks: " + ", ".join(
        f"{m} {p}" for m, p in unknown)
    assert len(entries) == len(set(entries)), "docs/api.md lists an endpoint twice"


def test_endpoints_mentioned_in_the_prose_exist(served: set[tuple[str, str]]) -> None:
    def pattern(path: str) -> re.Pattern[str]:  # "{anything}" stands for one path segment
        return re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$")

    text = API_DOC.read_text(encoding="utf-8")
    wrong = []
    for method, path in MENTION.findall(text):
        documented = pattern(path.rstrip("."))
        if not any(m == method and documented.match(p) for m, p in served):
            wrong.append(f"{method} {path}")
    assert not wrong, "docs/api.md mentions endpoints that do not exist: " + ", ".join(wrong)
