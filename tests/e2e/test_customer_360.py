"""A stitched customer in a real browser: anonymous page views and an identify sent to the
collector over HTTP, processed by the hub's embedded processors (drained here: the test
server runs without them), shown on the customer 360 page reachable from the contact."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from rapport.crm.service import SYSTEM
from rapport.events import sources
from rapport.events.processors import EmbeddedProcessors
from rapport.identity.models import Identity
from tests.e2e.conftest import Live, shot
from tests.e2e.test_browser import sign_in

pytestmark = pytest.mark.e2e

EMAIL = "lin.mei@example.com"


def _seed(live: Live) -> tuple[int, str]:
    """A contact, and a web source whose write key the page's visitor uses."""
    with live.container.uow() as uow:
        contact = live.container.records.create(uow, SYSTEM, "contacts", {
            "first_name": "Mei", "last_name": "Lin", "email": EMAIL, "job_title": "Plant manager"})
        issued = sources.create_source(uow.session, "Website " + uuid.uuid4().hex[:6], "web")
        uow.commit()
    return contact.id, issued.write_key


def _send(page: Page, live: Live, key: str, call: str, body: dict[str, object]) -> None:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    answer = page.request.post(f"{live.url}/v1/{call}", data=body,
                               headers={"Authorization": f"Basic {auth}"})
    assert answer.status == 200, answer.text()


def _profile_of(live: Live, kind: str, value: str) -> int:
    with live.container.session_factory() as session:
        found = session.scalar(select(Identity.profile_id).where(Identity.kind == kind,
                                                                 Identity.value == value))
    assert found is not None, f"no profile holds {kind}:{value}"
    return int(found)


def test_a_stitched_customer_on_the_360_page(page: Page, live: Live) -> None:
    contact_id, key = _seed(live)
    start = datetime.now(UTC) - timedelta(hours=2)
    device = {"fingerprint": "fp-e2e-lin"}
    for n, (name, path) in enumerate([("Pricing", "/pricing"), ("Retrofit guide", "/docs/retrofit")]):
        _send(page, live, key, "page", {
            "anonymousId": "anon-e2e-lin", "name": name, "messageId": f"e2e-page-{n}",
            "timestamp": (start + timedelta(minutes=n)).isoformat(),
            "properties": {"path": path}, "context": {"device": device, "session": {"id": "s-e2e-1"}}})
    _send(page, live, key, "track", {
        "anonymousId": "anon-e2e-lin", "event": "Document Read", "messageId": "e2e-read",
        "timestamp": (start + timedelta(minutes=3)).isoformat(),
        "properties": {"document": "retrofit.pdf", "dwell_seconds": 140, "printed": True},
        "context": {"device": device, "session": {"id": "s-e2e-1"}}})
    _send(page, live, key, "identify", {
        "anonymousId": "anon-e2e-lin", "userId": "u-e2e-lin", "messageId": "e2e-identify",
        "timestamp": (start + timedelta(minutes=5)).isoformat(),
        "traits": {"email": EMAIL, "name": "Mei Lin", "company": "Acme Robotics"},
        "context": {"device": device, "session": {"id": "s-e2e-1"}}})
    processors = EmbeddedProcessors(live.container.session_factory, live.container.settings)
    assert processors.drain() >= 4
    profile_id = _profile_of(live, "user_id", "u-e2e-lin")
    assert _profile_of(live, "anonymous_id", "anon-e2e-lin") == profile_id

    sign_in(page)
    page.goto(f"/contacts/{contact_id}")
    page.click("a:has-text('Customer 360')")
    expect(page).to_have_url(f"{live.url}/profiles/{profile_id}")
    expect(page.locator("h1")).to_contain_text("Mei Lin")
    expect(page.locator(".stage-path li.current")).to_have_text("Engaged")
    timeline = page.locator(".profile-timeline")
    expect(timeline).to_contain_text("Pricing")
    expect(timeline).to_contain_text("Retrofit guide")
    expect(timeline).to_contain_text("Document Read")
    identities = page.locator(".profile-identities")
    for text in ("u-e2e-lin", "anon-e2e-lin", "fp-e2e-lin"):
        expect(identities).to_contain_text(text)
    expect(identities).not_to_contain_text(EMAIL)  # masked for everyone without a clear role
    expect(page.locator(".profile-traits")).to_contain_text("Acme Robotics")
    expect(page.locator(f"a[href='/contacts/{contact_id}']").first).to_be_visible()
    shot(page, "20-customer-360")


def test_two_customers_sharing_an_email_are_merged_from_the_review_page(
    page: Page, live: Live
) -> None:
    _, key = _seed(live)
    shared = f"orders-{uuid.uuid4().hex[:6]}@example.com"
    for user in ("u-e2e-shop-1", "u-e2e-shop-2"):  # two logins, one mailbox
        _send(page, live, key, "identify", {
            "userId": user, "messageId": f"e2e-{user}", "traits": {"email": shared,
                                                                  "name": "Chen Hao"}})
    EmbeddedProcessors(live.container.session_factory, live.container.settings).drain()
    first, second = _profile_of(live, "user_id", "u-e2e-shop-1"), _profile_of(
        live, "user_id", "u-e2e-shop-2")
    assert first != second  # two user ids never merge on their own

    sign_in(page)
    page.goto("/admin/merge-reviews")
    review = page.locator(".review", has=page.locator(f"a[href='/profiles/{second}']"))
    expect(review).to_contain_text("user id arrived with an identifier of a profile")
    expect(review.locator(f"a[href='/profiles/{first}']")).to_be_visible()
    shot(page, "21-merge-reviews")
    page.once("dialog", lambda dialog: dialog.accept())
    review.locator("button:has-text('Merge')").click()

    expect(page.locator(".flash")).to_contain_text("Merged")
    assert _profile_of(live, "user_id", "u-e2e-shop-2") == _profile_of(
        live, "user_id", "u-e2e-shop-1")
