"""``rapport import`` / ``rapport export`` through the command line, on a fresh SQLite file."""

from __future__ import annotations

import csv
import io
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
    upgrade(url)
    monkeypatch.setenv("RAPPORT_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_import_then_export_round_trip(database: str, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "External,Surname,Email\n"
        "c-1,Lovelace,Ada@Example.com\n"
        "=c-2,Hopper,not-an-email\n"
        "c-3,Wei,wei@example.com\n",
        encoding="utf-8",
    )

    imported = runner.invoke(app, ["import", "contacts", str(source), "--map", "Surname=last_name"])

    assert imported.exit_code == 1, imported.output  # one row rejected
    assert "row 3" in imported.stderr
    assert "Email" in imported.stderr
    assert "created" in imported.stderr
    errors = list(csv.DictReader((tmp_path / "people.csv.errors.csv").open(encoding="utf-8")))
    assert [(e["row"], e["column"]) for e in errors] == [("3", "Email")]
    assert errors[0]["raw"] == "'=c-2,Hopper,not-an-email"  # a formula start is escaped here too

    exported = runner.invoke(app, ["export", "contacts", "--filter", "external_id:in:c-1,c-3",
                                   "--sort", "-last_name", "--columns", "external_id,email"])

    assert exported.exit_code == 0, exported.output
    assert list(csv.reader(io.StringIO(exported.stdout))) == [
        ["external_id", "email"], ["c-3", "wei@example.com"], ["c-1", "ada@example.com"],
    ]
    assert "exported 2 contacts" in exported.stderr


def test_export_to_a_file_with_bom(database: str, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("last_name\nLi\n", encoding="utf-8")
    assert runner.invoke(app, ["import", "contacts", str(source)]).exit_code == 0
    target = tmp_path / "out.csv"

    result = runner.invoke(app, ["export", "contacts", "--columns", "last_name", "--bom",
                                 "--output", str(target)])

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_bytes() == b"\xef\xbb\xbflast_name\r\nLi\r\n"


def test_dry_run_then_resume_messages(database: str, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("last_name\nLi\nWang\n", encoding="utf-8")

    dry = runner.invoke(app, ["import", "contacts", str(source), "--dry-run"])
    resumed = runner.invoke(app, ["import", "contacts", str(source), "--resume"])
    again = runner.invoke(app, ["import", "contacts", str(source), "--resume"])

    assert dry.exit_code == 0
    assert "dry run" in dry.stderr
    assert resumed.exit_code == 0
    assert "already imported" in again.stderr


def test_a_bad_header_or_object_exits_2_with_a_reason(database: str, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("last_name,Nickname\nLi,L\n", encoding="utf-8")

    header = runner.invoke(app, ["import", "contacts", str(source)])
    unknown = runner.invoke(app, ["export", "widgets"])
    bad_filter = runner.invoke(app, ["export", "contacts", "--filter", "tier"])

    assert header.exit_code == 2
    assert "Nickname" in header.stderr
    assert unknown.exit_code == 2
    assert "widgets" in unknown.stderr
    assert bad_filter.exit_code == 2
    assert "field:operator:value" in bad_filter.stderr
