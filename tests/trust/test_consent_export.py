"""``rapport export contacts --purpose ...`` keeps only people with valid consent."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from rapport.bootstrap import Container
from rapport.cli import app
from rapport.config import Settings, get_settings
from rapport.crm.service import SYSTEM
from rapport.db.base import utcnow
from rapport.trust import consent

runner = CliRunner()


@pytest.fixture
def cli_database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the command line at the test database (SQLite, or PostgreSQL when configured)."""
    monkeypatch.setenv("RAPPORT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RAPPORT_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _people(container: Container) -> dict[str, int]:
    """Four contacts: granted, withdrawn, expiring within the hour, never asked."""
    ids: dict[str, int] = {}
    with container.uow() as uow:
        for name in ("granted", "withdrawn", "expiring", "never"):
            ids[name] = container.records.create(uow, SYSTEM, "contacts", {
                "last_name": name.title(), "email": f"{name}@example.com"}).id
        secret = container.settings.secret_key

        def decide(name: str, status: str = "granted", **extra: object) -> None:
            consent.record(uow.session, secret, None, f"contacts:{ids[name]}", "marketing_email",
                           status, "consent", "web_form", **extra)  # type: ignore[arg-type]

        decide("granted")
        decide("withdrawn")
        decide("withdrawn", "withdrawn")
        decide("expiring", expires_at=utcnow() + timedelta(hours=1))
        uow.commit()
    return ids


def test_export_with_a_purpose_keeps_only_consented_people(
    container: Container, cli_database: None,
) -> None:
    # given contacts with every kind of consent state
    ids = _people(container)
    # when contacts are exported for marketing email
    answer = runner.invoke(app, ["export", "contacts", "--purpose", "marketing_email",
                                 "--columns", "id,email"])
    # then only those with valid consent are in the file
    assert answer.exit_code == 0, answer.output
    rows = list(csv.reader(io.StringIO(answer.stdout)))
    assert rows == [["id", "email"], [str(ids["granted"]), "granted@example.com"],
                    [str(ids["expiring"]), "expiring@example.com"]]
    assert "exported 2 contacts" in answer.stderr


def test_export_without_a_purpose_is_unchanged(container: Container, cli_database: None) -> None:
    _people(container)

    answer = runner.invoke(app, ["export", "contacts", "--columns", "id"])

    assert answer.exit_code == 0, answer.output
    assert len(list(csv.reader(io.StringIO(answer.stdout)))) == 5


def test_export_refuses_an_unknown_purpose_or_an_object_without_people(
    container: Container, cli_database: None,
) -> None:
    unknown = runner.invoke(app, ["export", "contacts", "--purpose", "telepathy"])
    accounts = runner.invoke(app, ["export", "accounts", "--purpose", "marketing_email"])

    assert unknown.exit_code == accounts.exit_code == 2
    assert "marketing_email" in unknown.stderr
    assert "contacts, leads" in accounts.stderr
