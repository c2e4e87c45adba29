"""``rapport audit verify|export|list`` against the test database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from rapport.bootstrap import Container
from rapport.cli import app
from rapport.config import get_settings
from rapport.trust import audit
from rapport.trust.models import AuditEntry

runner = CliRunner()


@pytest.fixture
def cli_database(container: Container, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    """The CLI reads RAPPORT_DATABASE_URL; the key is the same default as the container's."""
    monkeypatch.setenv("RAPPORT_DATABASE_URL", container.settings.database_url)
    get_settings.cache_clear()
    assert get_settings().secret_key == container.settings.secret_key
    yield container
    get_settings.cache_clear()


@pytest.fixture
def entries(cli_database: Container) -> list[int]:
    ids = []
    with cli_database.uow() as uow:
        for n in range(6):
            ids.append(audit.append(uow.session, cli_database.settings.secret_key,
                                    "login" if n % 2 else "config_changed",
                                    actor=audit.actor_ref(n), details={"n": n}).id)
        uow.commit()
    return ids


def test_verify_exits_0_when_intact_and_1_after_an_update(cli_database: Container,
                                                         entries: list[int]) -> None:
    intact = runner.invoke(app, ["audit", "verify"])
    with cli_database.uow() as uow:
        uow.session.execute(update(AuditEntry).where(AuditEntry.id == entries[2])
                            .values(details={"n": 99}))
        uow.commit()
    tampered = runner.invoke(app, ["audit", "verify"])

    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.stdout
    assert "checked 6 entries" in intact.stdout
    assert tampered.exit_code == 1, tampered.output
    assert "TAMPERED" in tampered.stdout
    assert f"entry {entries[2]}: content does not match its hash" in tampered.stderr


def test_export_writes_json_lines_with_filters_and_audits_itself(
    cli_database: Container, entries: list[int], tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"

    result = runner.invoke(app, ["audit", "export", "--action", "login", "--since", "2000-01-01",
                                 "--output", str(target)])

    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    assert [line["id"] for line in lines] == entries[1::2]
    assert set(lines[0]) == {"id", "at", "action", "actor", "target", "network", "details",
                             "prev_hash", "hash"}
    assert "exported 3 audit entries" in result.stderr
    with cli_database.session_factory() as session:
        [logged], _ = audit.list_entries(session, audit.AuditFilter(action="export"), limit=1)
    assert logged.details["object"] == "audit_log"
    assert logged.details["count"] == 3
    assert logged.details["via"].startswith("cli:")
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0


def test_export_refuses_a_time_without_offset(cli_database: Container) -> None:
    result = runner.invoke(app, ["audit", "export", "--since", "2026-01-31T09:00"])

    assert result.exit_code == 2
    assert "needs a UTC offset" in result.stderr


def test_list_shows_the_newest_entries(cli_database: Container, entries: list[int]) -> None:
    result = runner.invoke(app, ["audit", "list", "--action", "config_changed", "--limit", "2"])

    assert result.exit_code == 0, result.output
    assert str(entries[4]) in result.stdout
    assert str(entries[2]) in result.stdout
    assert "login" not in result.stdout
    assert "more entries" in result.stderr


def test_record_export_is_audited(cli_database: Container) -> None:
    result = runner.invoke(app, ["export", "contacts", "--filter", "last_name:eq:Lovelace"])

    assert result.exit_code == 0, result.output
    with cli_database.session_factory() as session:
        [logged], _ = audit.list_entries(session, audit.AuditFilter(action="export"), limit=1)
    assert logged.details == {"object": "contacts", "count": 0, "via": "cli",
                              "filters": ["last_name:eq"]}  # the value is left out
