"""``rapport demo load`` from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.cli import app
from rapport.config import get_settings
from rapport.db.migrate import upgrade


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    monkeypatch.setenv("RAPPORT_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_demo_load_twice_with_if_empty_loads_once(sqlite_url: str) -> None:
    runner = CliRunner()

    first = runner.invoke(app, ["demo", "load", "--scale", "1", "--if-empty"])
    second = runner.invoke(app, ["demo", "load", "--scale", "1", "--if-empty"])
    third = runner.invoke(app, ["demo", "load", "--scale", "1"])

    assert first.exit_code == 0, first.output
    assert "accounts" in first.output
    assert "demo@example.com" in first.output
    assert "demo-zh@example.com" in first.output
    assert second.exit_code == 0, second.output
    assert "already exist" in second.output
    assert third.exit_code == 2
    assert "--if-empty" in third.output
