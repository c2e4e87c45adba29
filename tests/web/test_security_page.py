"""The security alerts page: open alerts with counts against the baseline, resolve & unlock."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.trust import anomaly
from rapport.trust.actor import Actor
from rapport.trust.auth import AccountHeld, create_user
from rapport.trust.models import SecurityAlert, User
from tests.fixtures.api import PASSWORD, REP_EMAIL
from tests.web.conftest import sign_in


def _locked_user(container: Container, email: str = "mallory@example.com") -> tuple[int, int]:
    """A new user who was just served more tier-A records than the ceiling allows."""
    with container.uow() as uow:
        user = create_user(uow.session, email, PASSWORD, name="Mallory Mole")
        uow.commit()
    ceiling = container.settings.anomaly_high_value_ceiling
    records = [{"id": i, "tier": "A"} for i in range(ceiling + 1)]
    with container.session_factory() as session, pytest.raises(AccountHeld):
        anomaly.observe(session, container.settings, Actor(user_id=user.user_id), "accounts",
                        records, "read")
    with container.session_factory() as session:
        alert_id = session.scalar(select(SecurityAlert.id).where(
            SecurityAlert.user_id == user.user_id))
    assert alert_id is not None
    return user.user_id, alert_id


def _lock_reason(container: Container, user_id: int) -> str | None:
    with container.session_factory() as session:
        return session.scalar(select(User.lock_reason).where(User.id == user_id))


def test_admins_see_open_alerts_with_the_counts_and_a_nav_link(
    container: Container, admin_browser: TestClient,
) -> None:
    _locked_user(container)

    page = admin_browser.get("/admin/security")

    assert page.status_code == 200, page.text
    assert 'href="/admin/security"' in page.text
    assert "Mallory Mole" in page.text
    assert "mallory@example.com" in page.text
    assert "User locked" in page.text
    assert str(container.settings.anomaly_high_value_ceiling + 1) in page.text  # tier-A count
    assert "ceilings applied" in page.text  # a new user has no baseline yet
    assert "Resolve & unlock" in page.text
    assert '<span class="pill pill-open" id="open-count">1</span>' in page.text


def test_resolve_and_unlock_from_the_page(container: Container, admin_browser: TestClient,
                                          token: str) -> None:
    user_id, alert_id = _locked_user(container)

    answer = admin_browser.post(f"/admin/security/{alert_id}/resolve", data={
        "csrf_token": token, "resolution": "Year-end review, agreed with the manager",
        "unlock": "on"}, follow_redirects=False)

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/admin/security?resolved=unlocked"
    assert _lock_reason(container, user_id) is None
    page = admin_browser.get(answer.headers["location"])
    assert "the user is unlocked" in page.text
    assert "Year-end review, agreed with the manager" in page.text  # under recently resolved
    assert '<span class="pill pill-open" id="open-count">0</span>' in page.text


def test_an_empty_resolution_is_shown_on_the_alert(container: Container,
                                                   admin_browser: TestClient, token: str) -> None:
    user_id, alert_id = _locked_user(container)

    answer = admin_browser.post(f"/admin/security/{alert_id}/resolve", data={
        "csrf_token": token, "resolution": "  ", "unlock": "on"})

    assert answer.status_code == 422
    assert "resolution must not be empty" in answer.text
    assert _lock_reason(container, user_id) == "anomaly"


def test_the_form_needs_its_csrf_token(container: Container, admin_browser: TestClient) -> None:
    user_id, alert_id = _locked_user(container)

    answer = admin_browser.post(f"/admin/security/{alert_id}/resolve",
                                data={"resolution": "ok", "unlock": "on"})

    assert answer.status_code == 403
    assert _lock_reason(container, user_id) == "anomaly"


def test_a_rep_may_not_open_the_page(container: Container, browser: TestClient) -> None:
    _, alert_id = _locked_user(container)
    csrf = sign_in(browser, REP_EMAIL)

    assert browser.get("/admin/security").status_code == 403
    answer = browser.post(f"/admin/security/{alert_id}/resolve",
                          data={"csrf_token": csrf, "resolution": "me", "unlock": "on"})
    assert answer.status_code == 403
    assert 'href="/admin/security"' not in browser.get("/").text


def test_the_page_speaks_chinese(container: Container, admin_browser: TestClient,
                                 token: str) -> None:
    _locked_user(container)
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN", "next": "/"})

    page = admin_browser.get("/admin/security")

    assert "安全警报" in page.text
    assert "解决并解锁" in page.text
