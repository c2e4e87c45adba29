"""`rapport dsr`: open, list, show, run (bundle or erasure) and reject from the command line."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rapport.bootstrap import Container
from rapport.cli import app
from rapport.config import Settings, get_settings
from rapport.trust.actor import SYSTEM

runner = CliRunner()


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RAPPORT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RAPPORT_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("RAPPORT_DEFAULT_PHONE_REGION", settings.default_phone_region)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def person(container: Container) -> int:
    with container.uow() as uow:
        contact = container.records.create(uow, SYSTEM, "contacts", {
            "first_name": "Jun", "last_name": "Guo", "email": "jun.guo@example.com",
            "phone": "+86 138 5555 6666"})
        container.records.create(uow, SYSTEM, "tasks", {"title": "Follow up", "contact_id": contact.id})
        uow.commit()
    return contact.id


def _create(*args: str) -> int:
    result = runner.invoke(app, ["dsr", "create", *args])
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip())


def test_an_access_request_from_open_to_bundle(cli: None, person: int, tmp_path: Path) -> None:
    # when an officer opens an access request by e-mail
    request_id = _create("--kind", "access", "--law", "pipl", "--email", "Jun.Guo@example.com")

    # then it is listed with its deadline
    listed = runner.invoke(app, ["dsr", "list"])
    assert listed.exit_code == 0, listed.output
    assert "PIPL" in listed.stdout
    assert "days left" in listed.stdout

    # and running it writes the bundle
    target = tmp_path / "bundle.zip"
    ran = runner.invoke(app, ["dsr", "run", str(request_id), "--output", str(target)])
    assert ran.exit_code == 0, ran.output
    assert f"wrote {target}" in ran.stderr.replace("\n", "")
    archive = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    assert {"subject.json", "contacts.csv", "tasks.csv"} <= set(archive.namelist())
    assert "completed" in runner.invoke(app, ["dsr", "list", "--status", "completed"]).stdout


def test_an_erasure_needs_confirmation_and_prints_its_report(
    cli: None, person: int, container: Container
) -> None:
    request_id = _create("--kind", "erasure", "--phone", "13855556666")

    shown = runner.invoke(app, ["dsr", "show", str(request_id)])
    refused = runner.invoke(app, ["dsr", "run", str(request_id)], input="n\n")
    ran = runner.invoke(app, ["dsr", "run", str(request_id), "--yes"])

    assert shown.exit_code == 0, shown.output
    assert "tasks" in shown.stdout
    assert refused.exit_code == 1
    assert ran.exit_code == 0, ran.output
    assert "residue check: clean" in ran.stdout
    assert f"request {request_id} completed" in ran.stderr
    with container.session_factory() as session:
        from rapport.crm.models import Contact

        assert session.get(Contact, person) is None


def test_bad_input_and_rejection(cli: None, person: int) -> None:
    unknown = runner.invoke(app, ["dsr", "create", "--kind", "access", "--email", "x@example.com"])
    bad_date = runner.invoke(app, ["dsr", "create", "--kind", "access", "--subject",
                                   f"contacts:{person}", "--received-on", "01/02/2026"])
    request_id = _create("--kind", "access", "--subject", f"contacts:{person}")
    rejected = runner.invoke(app, ["dsr", "reject", str(request_id), "--reason", "duplicate"])
    again = runner.invoke(app, ["dsr", "run", str(request_id)])

    assert unknown.exit_code == 2
    assert "nothing is held" in unknown.stderr
    assert bad_date.exit_code == 2
    assert "2026-05-01" in bad_date.stderr
    assert rejected.exit_code == 0, rejected.output
    assert again.exit_code == 2
    assert "rejected" in again.stderr
    assert "overdue" not in runner.invoke(app, ["dsr", "list", "--overdue"]).stderr
