"""The data-health dashboard page: figures, per-source table, bars, empty state, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.events.hub_models import DeadLetter, HubEvent, Source
from tests.fixtures.api import REP_EMAIL
from tests.web.conftest import sign_in


def _seed(container: Container) -> None:
    """One web source with two events (one 2 h late) and a dead letter, in the last hour."""
    now = datetime.now(UTC)
    with container.uow() as uow:
        source = Source(name="shop-web", channel="web", write_key_hash="k" * 64,
                        write_key_prefix="rwk_k", mapping={})
        uow.session.add(source)
        uow.session.flush()
        for n, late in ((1, timedelta(0)), (2, timedelta(hours=2))):
            received = now - timedelta(minutes=10 * n)
            uow.session.add(HubEvent(
                source_id=source.id, message_id=f"m{n}", type="page", anonymous_id=f"a{n}",
                timestamp=received - late, received_at=received, skew_ms=40 * n, channel="web",
                fingerprint="fp", session_id="s", properties={}, traits={}, context={},
                partition=0))
        uow.session.add(DeadLetter(source_id=source.id, received_at=now, code="missing_identity",
                                   reason="no anonymousId or userId", payload="{}"))
        uow.commit()


def test_the_dashboard_shows_cards_sources_reasons_and_bars(
    admin_browser: TestClient, container: Container
) -> None:
    _seed(container)
    page = admin_browser.get("/admin/health")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Data health" in html
    assert "shop-web" in html
    assert "66.7 %" in html  # validity: 2 accepted, 1 dead letter
    assert "50.0 %" in html  # one of two events is late
    assert "missing_identity" in html
    assert "<meter" in html  # skew histogram and completeness bars, no script
    assert "No events yet" not in html
    assert 'href="/admin/health"' in html  # in the navigation


def test_the_window_and_late_threshold_are_chosen_from_the_page(
    admin_browser: TestClient, container: Container
) -> None:
    _seed(container)
    html = admin_browser.get("/admin/health?hours=168&late=360").text
    assert '<option value="168" selected>' in html
    assert '<option value="360" selected>' in html
    assert "0.0 %" in html  # nothing is 6 h late
    # an unknown choice falls back to the default rather than failing
    assert admin_browser.get("/admin/health?hours=abc&late=-1").status_code == 200


def test_without_events_the_page_explains_how_to_start(admin_browser: TestClient) -> None:
    page = admin_browser.get("/admin/health")
    assert page.status_code == 200
    assert "No events yet" in page.text
    assert "rapport source create" in page.text
    assert "Field completeness" in page.text


def test_a_user_without_health_read_is_refused(browser: TestClient) -> None:
    sign_in(browser, REP_EMAIL)
    page = browser.get("/admin/health")
    assert page.status_code == 403
    assert 'href="/admin/health"' not in browser.get("/").text


def test_the_page_is_translated(admin_browser: TestClient, token: str) -> None:
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN"})
    assert "数据健康" in admin_browser.get("/admin/health").text
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "en"})
