"""`rapport account unlock|reset-totp|tokens` and `rapport token create --days --role`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from rapport.bootstrap import Container
from rapport.cli import app
from rapport.config import Settings, get_settings
from rapport.db.base import utcnow
from rapport.trust import auth, totp
from rapport.trust.models import ApiToken, AuditEntry, User
from tests.fixtures.api import PASSWORD, REP_EMAIL

runner = CliRunner()


@pytest.fixture
def cli_env(container: Container, settings: Settings, api_tokens: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    """The CLI reads the test database (users from ``api_tokens`` exist)."""
    monkeypatch.setenv("RAPPORT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RAPPORT_ENVIRONMENT", "test")
    monkeypatch.setenv("RAPPORT_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield container
    get_settings.cache_clear()


def rep(container: Container) -> User:
    with container.session_factory() as session:
        user = session.scalar(select(User).where(User.email == REP_EMAIL))
    assert user is not None
    return user


def test_unlock_lifts_a_hold(cli_env: Container) -> None:
    with cli_env.uow() as uow:
        uow.session.execute(update(User).where(User.email == REP_EMAIL).values(
            lock_reason="anomaly", failed_logins=7))
        uow.commit()

    result = runner.invoke(app, ["account", "unlock", REP_EMAIL])

    assert result.exit_code == 0, result.output
    user = rep(cli_env)
    assert (user.lock_reason, user.failed_logins, user.locked_until) == (None, 0, None)
    with cli_env.session_factory() as session:
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "unlock")) \
            == "system"


def test_unknown_email_exits_2(cli_env: Container) -> None:
    result = runner.invoke(app, ["account", "unlock", "nobody@example.com"])
    assert result.exit_code == 2
    assert "no user with email" in result.output


def test_reset_totp_turns_two_factor_off(cli_env: Container) -> None:
    key = cli_env.settings.secret_key
    user_id = rep(cli_env).id
    with cli_env.uow() as uow:
        enrolment = auth.start_totp_enrolment(uow.session, key, user_id)
        auth.confirm_totp(uow.session, key, user_id,
                          totp.code_at(enrolment.secret, totp.current_step(utcnow())))
        uow.commit()
    assert rep(cli_env).totp_enabled_at is not None

    result = runner.invoke(app, ["account", "reset-totp", REP_EMAIL])

    assert result.exit_code == 0, result.output
    user = rep(cli_env)
    assert (user.totp_secret, user.totp_enabled_at) == (None, None)
    with cli_env.uow() as uow:
        assert auth.begin_login(uow.session, key, REP_EMAIL, PASSWORD).status == "ok"


def test_token_create_with_days_and_roles(cli_env: Container) -> None:
    result = runner.invoke(app, ["token", "create", "--user", REP_EMAIL, "--name", "etl",
                                 "--days", "10", "--role", "sales_rep"])

    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with cli_env.session_factory() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "etl"))
        assert row is not None
        assert row.roles == ["sales_rep"]
        assert row.expires_at is not None
        assert 9 <= (row.expires_at - row.created_at).days <= 10
        assert session.scalar(select(AuditEntry.target).where(
            AuditEntry.action == "token_created")) == f"api_tokens:{row.id}"
        assert auth.principal_for_token(session, token, touch=False).policy.roles == (
            "sales_rep",)

    listed = runner.invoke(app, ["account", "tokens", REP_EMAIL])
    assert listed.exit_code == 0
    assert "etl" in listed.output

    refused = runner.invoke(app, ["token", "create", "--user", REP_EMAIL, "--role", "admin"])
    assert refused.exit_code == 2
    assert "roles" in refused.output
    too_long = runner.invoke(app, ["token", "create", "--user", REP_EMAIL, "--days", "400"])
    assert too_long.exit_code == 2
