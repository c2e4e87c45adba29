"""Administration pages of the collector: sources (key shown once, rotate, disable) and dead
letters (filter, inspect, edit and replay, discard)."""

from __future__ import annotations

import base64
import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from rapport.bootstrap import Container
from rapport.events import sources
from rapport.events.hub_models import HubEvent
from tests.fixtures.api import REP_EMAIL
from tests.web.conftest import sign_in

KEY = re.compile(r'<code class="write-key">(rwk_[^<]+)</code>')


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _create(admin_browser: TestClient, token: str, name: str = "Shop website") -> str:
    page = admin_browser.post("/admin/sources", data={"csrf_token": token, "name": name,
                                                      "channel": "web"})
    assert page.status_code == 200
    match = KEY.search(page.text)
    assert match, "the new write key is shown"
    return match.group(1)


def test_an_admin_creates_a_source_and_sees_its_key_once(
    admin_browser: TestClient, token: str
) -> None:
    key = _create(admin_browser, token)

    listing = admin_browser.get("/admin/sources")
    assert "Shop website" in listing.text
    assert key not in listing.text
    assert key[:12] in listing.text  # the prefix identifies it
    assert 'href="/admin/sources"' in listing.text  # in the navigation


def test_a_bad_source_form_says_what_to_fix(admin_browser: TestClient, token: str) -> None:
    page = admin_browser.post("/admin/sources", data={"csrf_token": token, "name": "",
                                                      "channel": "web"})

    assert page.status_code == 422
    assert "field-error" in page.text


def test_rotating_and_disabling_from_the_page(
    admin_browser: TestClient, token: str, container: Container
) -> None:
    key = _create(admin_browser, token)
    with container.session_factory() as session:
        from rapport.events.hub_models import Source

        source_id = session.scalar(select(Source.id))

    rotated = admin_browser.post(f"/admin/sources/{source_id}/rotate", data={"csrf_token": token})
    new_key = KEY.search(rotated.text)
    off = admin_browser.post(f"/admin/sources/{source_id}/enabled",
                             data={"csrf_token": token, "enabled": "0"})

    assert new_key
    assert new_key.group(1) != key
    assert off.status_code == 200
    assert "Disabled" in off.text
    refused = admin_browser.post("/v1/track", json={"userId": "u", "event": "E"},
                                 headers=_basic(new_key.group(1)))
    assert refused.status_code == 403


def test_dead_letters_are_inspected_fixed_and_replayed_in_the_browser(
    admin_browser: TestClient, token: str, container: Container
) -> None:
    key = _create(admin_browser, token)
    refused = admin_browser.post("/v1/track", json={"event": "Checkout", "messageId": "m-1"},
                                 headers=_basic(key))
    letter_id = refused.json()["dead_letter_id"]

    listing = admin_browser.get("/admin/dead-letters?code=missing_identity")
    detail = admin_browser.get(f"/admin/dead-letters/{letter_id}")
    fixed = admin_browser.post(f"/admin/dead-letters/{letter_id}/replay", data={
        "csrf_token": token,
        "payload": '{"type": "track", "event": "Checkout", "messageId": "m-1", "userId": "u-1"}'})

    assert f'href="/admin/dead-letters/{letter_id}"' in listing.text
    assert "missing_identity" in listing.text
    assert "&#34;Checkout&#34;" in detail.text or "&quot;Checkout&quot;" in detail.text
    assert "current mapping" not in detail.text  # an event: no source mapping to run
    assert fixed.status_code == 200
    assert "the event is stored" in fixed.text
    with container.session_factory() as session:
        assert session.scalar(select(HubEvent.user_id)) == "u-1"


def test_a_replay_that_still_fails_shows_why(admin_browser: TestClient, token: str) -> None:
    key = _create(admin_browser, token)
    letter_id = admin_browser.post("/v1/track", json={"event": "E"},
                                   headers=_basic(key)).json()["dead_letter_id"]

    page = admin_browser.post(f"/admin/dead-letters/{letter_id}/replay", data={
        "csrf_token": token, "payload": '{"type": "track", "event": "E", "userId": "u", "timestamp": "later"}'})

    assert page.status_code == 422
    assert "bad_timestamp" in page.text
    assert "later" in page.text


def test_replay_all_and_discard_from_the_list(admin_browser: TestClient, token: str) -> None:
    key = _create(admin_browser, token)
    first = admin_browser.post("/v1/track", json={"event": "A"}, headers=_basic(key)).json()
    second = admin_browser.post("/v1/track", json={"event": "B"}, headers=_basic(key)).json()

    replayed = admin_browser.post("/admin/dead-letters/replay", data={
        "csrf_token": token, "source": "Shop website", "code": ""})
    discarded = admin_browser.post(f"/admin/dead-letters/{first['dead_letter_id']}/discard",
                                   data={"csrf_token": token})

    assert "0 replayed, 2 still open." in replayed.text
    assert "Dead letter discarded." in discarded.text
    open_only = admin_browser.get("/admin/dead-letters?status=open")
    assert f'/admin/dead-letters/{second["dead_letter_id"]}"' in open_only.text
    assert f'/admin/dead-letters/{first["dead_letter_id"]}"' not in open_only.text


def test_a_webhook_dead_letter_replays_from_its_page_once_the_mapping_is_fixed(
    admin_browser: TestClient, token: str, container: Container
) -> None:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "Billing", "api", {
            "event": "$.type", "userId": "$.customer.ref", "messageId": "$.id"})
        uow.commit()
    body = {"id": "inv-1", "type": "invoice.paid", "customer": {"id": "c-1"}}
    letter_id = admin_browser.post("/v1/webhook", json=body, headers=_basic(
        issued.write_key)).json()["dead_letter_id"]
    detail = admin_browser.get(f"/admin/dead-letters/{letter_id}")
    with container.uow() as uow:
        sources.update_source(uow.session, issued.source.id, mapping={
            "event": "$.type", "userId": "$.customer.id", "messageId": "$.id"})
        uow.commit()

    # the page posts the payload back unchanged: the replay maps it with the fixed mapping
    replayed = admin_browser.post(f"/admin/dead-letters/{letter_id}/replay", data={
        "csrf_token": token, "payload": detail_payload(detail.text)})

    assert "current mapping, so fixing the mapping is usually enough" in detail.text
    assert "the event is stored" in replayed.text
    with container.session_factory() as session:
        assert session.scalar(select(HubEvent.user_id)) == "c-1"


def detail_payload(page: str) -> str:
    match = re.search(r'<textarea id="payload"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "the payload is editable"
    return html.unescape(match.group(1))


def test_a_sales_rep_cannot_open_the_pages(browser: TestClient) -> None:
    sign_in(browser, REP_EMAIL)

    assert browser.get("/admin/sources").status_code == 403
    assert browser.get("/admin/dead-letters").status_code == 403
    assert 'href="/admin/sources"' not in browser.get("/").text
