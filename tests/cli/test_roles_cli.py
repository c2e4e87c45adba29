"""`rapport user create --role`, `rapport role list|show|grant`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.cli import app
from rapport.config import get_settings
from rapport.db.migrate import upgrade

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RAPPORT_DATABASE_URL", url)
    get_settings.cache_clear()
    upgrade(url)
    yield url
    get_settings.cache_clear()


def test_a_user_created_with_a_role_holds_it(database: str) -> None:
    created = runner.invoke(app, ["user", "create", "--email", "rep@example.com",
                                  "--password", "long-enough-pw", "--role", "sales_rep"])
    assert created.exit_code == 0, created.output
    assert "sales_rep" in created.output
    granted = runner.invoke(app, ["role", "grant", "rep@example.com", "--role", "marketer"])
    assert granted.exit_code == 0, granted.output
    assert "marketer, sales_rep" in granted.output


def test_unknown_roles_are_refused_with_the_known_ones_listed(database: str) -> None:
    runner.invoke(app, ["user", "create", "--email", "a@example.com", "--password", "long-enough-pw"])
    answer = runner.invoke(app, ["role", "grant", "a@example.com", "--role", "wizard"])
    assert answer.exit_code == 2
    assert "wizard" in answer.output
    assert "sales_rep" in answer.output


def test_roles_are_listed_and_shown(database: str) -> None:
    listed = runner.invoke(app, ["role", "list"])
    assert listed.exit_code == 0
    for name in ("admin", "sales_manager", "sales_rep", "service_agent", "marketer", "auditor",
                 "integration"):
        assert name in listed.output
    shown = runner.invoke(app, ["role", "show", "sales_rep"])
    assert shown.exit_code == 0
    assert '"scope": "own"' in shown.output
    assert runner.invoke(app, ["role", "show", "wizard"]).exit_code == 2
