"""The consent panel on contact and lead pages, its form, and the consent history page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.crm.service import SYSTEM
from rapport.trust.auth import set_locale
from rapport.trust.models import ConsentRecord, User
from tests.fixtures.api import ADMIN_EMAIL
from tests.web.conftest import csrf_of

HTMX = {"HX-Request": "true"}


def _create(container: Container, object_name: str, **values: str) -> int:
    with container.uow() as uow:
        record = container.records.create(uow, SYSTEM, object_name, values)
        uow.commit()
    return record.id


def _states(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-purpose="([a-z_]+)" data-state="([a-z]+)"', html))


def test_a_contact_page_loads_the_consent_panel(
    admin_browser: TestClient, container: Container,
) -> None:
    # given a contact nobody has asked for consent yet
    contact = _create(container, "contacts", last_name="Lovelace", email="ada@example.com")
    # when its page and then the panel it points at are loaded
    page = admin_browser.get(f"/contacts/{contact}")
    panel = admin_browser.get(f"/contacts/{contact}/consents", headers=HTMX)
    # then the page holds the placeholder and the panel lists every purpose as not asked
    assert page.status_code == 200, page.text
    assert f'hx-get="/contacts/{contact}/consents"' in page.text
    assert panel.status_code == 200
    assert 'class="card consent-panel"' in panel.text
    assert _states(panel.text) == dict.fromkeys(
        ("marketing_email", "sms", "profiling", "analytics", "partner_sharing", "sensitive_data"),
        "none")
    assert "Record a decision" in panel.text


def test_a_decision_recorded_through_the_form_refreshes_the_panel(
    admin_browser: TestClient, container: Container,
) -> None:
    lead = _create(container, "leads", last_name="Hopper", email="grace@example.com")
    panel = admin_browser.get(f"/leads/{lead}/consents", headers=HTMX)

    saved = admin_browser.post(f"/leads/{lead}/consents", headers=HTMX, data={
        "csrf_token": csrf_of(panel.text), "purpose": "marketing_email", "status": "granted",
        "lawful_basis": "consent", "source": "trade_fair", "evidence": "Signed card, Hall 3",
        "expires_on": "2099-12-31"})

    assert saved.status_code == 200, saved.text
    assert _states(saved.text)["marketing_email"] == "granted"
    assert "Consent decision recorded." in saved.text
    assert "trade_fair" in saved.text
    with container.session_factory() as session:
        row = session.scalars(select(ConsentRecord)).one()
        admin_id = session.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
    assert (row.subject, row.status, row.source) == (f"leads:{lead}", "granted", "trade_fair")
    assert row.recorded_by == admin_id
    # valid through 31 December in the user's time zone (Asia/Shanghai), shown as that day
    assert row.expires_at == datetime(2099, 12, 31, 16, 0, tzinfo=UTC)
    assert "until Dec 31, 2099" in saved.text


def test_an_invalid_decision_is_shown_in_the_panel_and_not_stored(
    admin_browser: TestClient, container: Container,
) -> None:
    contact = _create(container, "contacts", last_name="Wei")
    panel = admin_browser.get(f"/contacts/{contact}/consents", headers=HTMX)

    refused = admin_browser.post(f"/contacts/{contact}/consents", headers=HTMX, data={
        "csrf_token": csrf_of(panel.text), "purpose": "sensitive_data", "status": "granted",
        "lawful_basis": "legitimate_interests", "source": "crm_ui", "evidence": ""})

    assert refused.status_code == 200  # htmx swaps 2xx answers only
    assert "This purpose cannot be granted on this lawful basis." in refused.text
    assert "Describe the proof of this explicit, separate consent." in refused.text
    assert "<details open>" in refused.text
    with container.session_factory() as session:
        assert session.scalars(select(ConsentRecord)).first() is None


def test_the_form_needs_the_csrf_token(admin_browser: TestClient, container: Container) -> None:
    contact = _create(container, "contacts", last_name="Wei")
    answer = admin_browser.post(f"/contacts/{contact}/consents", data={
        "purpose": "sms", "status": "granted", "lawful_basis": "consent", "source": "crm_ui"})

    assert answer.status_code == 403
    with container.session_factory() as session:
        assert session.scalars(select(ConsentRecord)).first() is None


def test_without_javascript_the_form_lands_on_the_history_page(
    admin_browser: TestClient, container: Container,
) -> None:
    contact = _create(container, "contacts", last_name="Lovelace")
    token = csrf_of(admin_browser.get(f"/contacts/{contact}/consents/history").text)
    for status in ("granted", "withdrawn"):
        answer = admin_browser.post(f"/contacts/{contact}/consents", data={
            "csrf_token": token, "purpose": "sms", "status": status,
            "lawful_basis": "consent", "source": "phone_call"}, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/contacts/{contact}/consents/history"

    history = admin_browser.get(f"/contacts/{contact}/consents/history")

    assert history.status_code == 200
    assert "Consent history" in history.text
    assert history.text.index("Withdrawn") < history.text.index("Granted</td>")
    assert _states(history.text)["sms"] == "withdrawn"


def test_only_contacts_and_leads_have_a_consent_panel(
    admin_browser: TestClient, container: Container,
) -> None:
    account = _create(container, "accounts", name="Acme")

    assert "/consents" not in admin_browser.get(f"/accounts/{account}").text
    assert admin_browser.get(f"/accounts/{account}/consents", headers=HTMX).status_code == 404


def test_the_panel_speaks_the_users_language(
    admin_browser: TestClient, container: Container,
) -> None:
    contact = _create(container, "contacts", last_name="张")
    with container.uow() as uow:
        admin_id = uow.session.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
        assert admin_id is not None
        set_locale(uow.session, admin_id, "zh_CN")
        uow.commit()

    panel = admin_browser.get(f"/contacts/{contact}/consents", headers=HTMX)

    assert "营销邮件" in panel.text
    assert "未征询" in panel.text


def test_the_collector_hook_refuses_a_browser_session(
    admin_browser: TestClient, container: Container,
) -> None:
    contact = _create(container, "contacts", last_name="Wei", email="wei@example.com")

    answer = admin_browser.post("/api/v1/consents/collect", json={
        "subject": f"contacts:{contact}", "purpose": "analytics", "status": "granted",
        "evidence": "banner v4"}, headers={"X-CSRF-Token": admin_browser.headers["X-Test-Csrf"]})

    assert answer.status_code == 403
    assert "API tokens only" in answer.json()["detail"]
    with container.session_factory() as session:
        assert session.scalars(select(ConsentRecord)).first() is None
