"""Sign-in throttling per network address: password spraying across accounts is stopped
even though no single account reaches its own lockout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.trust import auth
from rapport.trust.models import AuditEntry, LoginThrottle
from rapport.trust.throttle import AddressThrottle, address_key, for_client
from tests.fixtures.api import ADMIN_EMAIL, PASSWORD, REP_EMAIL
from tests.trust.test_accounts import Clock
from tests.trust.test_accounts import clock as clock  # noqa: PLC0414 - the fixture
from tests.web.conftest import csrf_of

SPRAYER = "203.0.113.7"
NEIGHBOUR = "203.0.113.8"


def _attempt(container: Container, email: str, password: str,
             address: str = SPRAYER) -> auth.LoginResult:
    settings = container.settings
    throttle = for_client(settings.secret_key, address, settings.login_address_failures,
                          settings.login_address_minutes)
    with container.uow() as uow:
        result = auth.begin_login(uow.session, settings.secret_key, email, password,
                                  throttle=throttle)
        uow.commit()
    return result


def _actions(container: Container, action: str) -> list[AuditEntry]:
    with container.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_one_address_spraying_one_password_over_many_accounts_is_made_to_wait(
        container: Container, api_tokens: dict[str, str], clock: Clock) -> None:
    limit = container.settings.login_address_failures
    # given one address trying a common password on accounts, never five times on one
    accounts = [f"nobody{n}@example.com" for n in range(limit - 2)] + [REP_EMAIL, ADMIN_EMAIL]
    results = [_attempt(container, email, "Summer2026!") for email in accounts]

    assert [r.status for r in results[:-1]] == ["failed"] * (limit - 1)
    assert (results[-1].status, results[-1].retry_after) == ("throttled", 15 * 60)
    # then even the right password waits, from that address only
    blocked = _attempt(container, REP_EMAIL, PASSWORD)
    assert blocked.status == "throttled"
    assert "from your network" in blocked.message
    assert _attempt(container, REP_EMAIL, PASSWORD, address=NEIGHBOUR).status == "ok"
    # and no account was locked by the spraying
    assert _actions(container, "lockout") == []
    [tripped] = _actions(container, "address_throttled")
    assert tripped.details == {"failures": limit, "minutes": 15}
    with container.session_factory() as session:
        keys = list(session.scalars(select(LoginThrottle.address_key)))
    assert SPRAYER not in "".join(keys)  # a keyed hash, never the address

    clock.advance(15 * 60 + 1)
    assert _attempt(container, REP_EMAIL, PASSWORD).status == "ok"


def test_failures_spread_beyond_the_window_never_add_up(
        container: Container, api_tokens: dict[str, str], clock: Clock) -> None:
    limit = container.settings.login_address_failures
    for _ in range(3):
        for n in range(limit - 1):
            assert _attempt(container, f"nobody{n}@example.com", "guess").status == "failed"
        clock.advance(15 * 60 + 1)
    assert _attempt(container, REP_EMAIL, PASSWORD).status == "ok"


def test_an_ipv6_client_is_counted_by_its_64_and_unknown_addresses_are_not_throttled() -> None:
    secret = "s" * 40
    assert address_key(secret, "2001:db8:1:2::10") == address_key(secret, "2001:db8:1:2:ffff::1")
    assert address_key(secret, "2001:db8:1:2::10") != address_key(secret, "2001:db8:1:3::10")
    assert address_key(secret, "198.51.100.1") != address_key(secret, "198.51.100.2")
    assert address_key(secret, "testclient") is None
    assert address_key(secret, None) is None
    assert for_client(secret, "198.51.100.1", 0, 15) is None  # switched off
    assert isinstance(for_client(secret, "198.51.100.1", 20, 15), AddressThrottle)


@pytest.fixture
def sprayer_browser(app: FastAPI, api_tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, client=(SPRAYER, 50000)) as client:
        yield client


def test_the_sign_in_page_answers_429_with_retry_after_in_the_visitors_language(
        container: Container, sprayer_browser: TestClient, clock: Clock) -> None:
    container.settings = container.settings.model_copy(update={"login_address_failures": 3})
    answers = []
    for n in range(4):
        page = sprayer_browser.get("/login")
        answers.append(sprayer_browser.post("/login", data={
            "email": f"nobody{n}@example.com", "password": "guess",
            "csrf_token": csrf_of(page.text)}, follow_redirects=False))

    assert [a.status_code for a in answers] == [401, 401, 429, 429]
    assert answers[2].headers["Retry-After"] == str(15 * 60)
    assert "Too many failed sign-ins from your network" in answers[3].text
    page = sprayer_browser.get("/login?lang=zh_CN")
    chinese = sprayer_browser.post("/login?lang=zh_CN", data={
        "email": REP_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert chinese.status_code == 429
    assert "来自您所在网络的登录失败次数过多" in chinese.text
