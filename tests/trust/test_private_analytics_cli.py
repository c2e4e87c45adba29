"""``rapport analytics private|budget|set-budget`` on a fresh SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.bootstrap import bootstrap
from rapport.cli.analytics import app
from rapport.config import get_settings
from rapport.crm.models import Lead
from rapport.db.migrate import upgrade
from rapport.trust.auth import create_user
from rapport.trust.roles import set_user_roles
from tests.fixtures.api import PASSWORD

runner = CliRunner()
EMAIL = "mia.marketer@example.com"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("RAPPORT_DATABASE_URL", url)
    get_settings.cache_clear()
    container = bootstrap()
    with container.uow() as uow:
        user = create_user(uow.session, EMAIL, PASSWORD)
        set_user_roles(uow.session, container.settings.secret_key, None, user.user_id, ["marketer"])
        uow.session.add_all([Lead(last_name=f"Lead {i}", status="new", custom={}) for i in range(9)])
        uow.commit()
    container.engine.dispose()
    yield url
    get_settings.cache_clear()


def test_an_operator_sets_a_budget_and_an_analyst_spends_it_from_the_command_line(
    database: str,
) -> None:
    # given a budget of 1 set from the command line
    assert runner.invoke(app, ["set-budget", "--user", EMAIL, "--total", "1"]).exit_code == 0
    # when a count by status is released at ε = 0.6
    released = runner.invoke(app, ["private", "--user", EMAIL, "--object", "leads",
                                   "--group-by", "status", "--epsilon", "0.6"])
    # then the noisy table is printed and the budget shows the spend
    assert released.exit_code == 0, released.output
    assert "converted" in released.stdout
    shown = runner.invoke(app, ["budget", "--user", EMAIL])
    assert "total 1, spent 0.6, remaining 0.4" in shown.stdout
    # and a query needing more than is left is refused with exit code 2
    refused = runner.invoke(app, ["private", "--user", EMAIL, "--object", "leads",
                                  "--epsilon", "0.6"])
    assert refused.exit_code == 2
    assert "Nothing was spent" in " ".join(refused.stderr.split())


def test_invalid_queries_name_the_field_to_fix(database: str) -> None:
    answer = runner.invoke(app, ["private", "--user", EMAIL, "--object", "leads",
                                 "--measure", "sum", "--field", "status", "--epsilon", "0.5"])
    assert answer.exit_code == 2
    assert "field:" in answer.stderr
    assert "lower:" in answer.stderr
