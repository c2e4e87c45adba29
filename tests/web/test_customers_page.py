"""The customer list (/profiles): anonymous and identified profiles, filters, identifier
search, paging, the 360 page's access rule and masking, and the Chinese catalog."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.web.routes import profiles as profile_pages
from tests.fixtures.api import REP_EMAIL
from tests.hub.profile_support import T0, event, ingest, make_source, profile, profile_id_of
from tests.web.conftest import sign_in

EMAIL = "ana.lima@example.com"


def _rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="customer-(\d+)"', html)]


def _customers(container: Container, client: TestClient) -> tuple[int, int, int]:
    """Ana (a contact, identified on the web with her name) and an anonymous visitor of the
    shop, seen later. Returns (contact id, Ana's profile, the visitor's profile)."""
    contact = client.post("/api/v1/contacts", json={"first_name": "Ana", "last_name": "Lima",
                                                    "email": EMAIL}).json()
    web = make_source(container)
    shop = make_source(container, "Shop", channel="pos")
    ingest(container, event(web, "identify", user_id="u-ana", anonymous_id="a-1", at=T0,
                            traits={"email": EMAIL, "name": "Ana Lima"}))
    ingest(container, event(shop, "track", name="Store Visit", anonymous_id="a-2",
                            channel="pos", at=T0 + timedelta(hours=1)))
    ana, visitor = profile_id_of(container, "user_id", "u-ana"), profile_id_of(container, "anonymous_id", "a-2")
    assert ana is not None
    assert visitor is not None
    return contact["id"], ana, visitor


def test_the_list_shows_identified_and_anonymous_customers_newest_first(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    contact_id, ana, visitor = _customers(container, client)

    page = admin_browser.get("/profiles")

    assert page.status_code == 200, page.text
    html = page.text
    assert _rows(html) == [visitor, ana]  # last seen, newest first
    assert f'<a href="/profiles/{ana}">Ana Lima</a>' in html
    assert f'<a href="/profiles/{visitor}">Anonymous visitor #{visitor}</a>' in html
    assert f'href="/contacts/{contact_id}"' in html  # Ana's contact, linked
    assert "Point of sale" in html
    assert 'href="/profiles" class="active"' in html  # in the navigation
    assert _rows(admin_browser.get("/profiles?sort=first_seen").text) == [visitor, ana]


def test_filters_narrow_by_stage_crm_link_and_channel(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    _, ana, visitor = _customers(container, client)
    ana_stage = profile(container, ana).journey_stage
    assert ana_stage != "anonymous"

    assert _rows(admin_browser.get("/profiles?stage=anonymous").text) == [visitor]
    assert _rows(admin_browser.get(f"/profiles?stage={ana_stage}").text) == [ana]
    assert _rows(admin_browser.get("/profiles?linked=yes").text) == [ana]
    assert _rows(admin_browser.get("/profiles?linked=no").text) == [visitor]
    assert _rows(admin_browser.get("/profiles?channel=pos").text) == [visitor]
    assert _rows(admin_browser.get("/profiles?channel=web").text) == [ana]
    empty = admin_browser.get("/profiles?channel=iot&linked=yes").text
    assert _rows(empty) == []
    assert "No matches" in empty
    assert 'href="/profiles">Clear search and filters' in empty
    # unknown values are ignored rather than failing
    assert _rows(admin_browser.get("/profiles?stage=bogus&channel=fax").text) == [visitor, ana]


def test_the_search_box_finds_a_customer_by_identifier(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    _, ana, visitor = _customers(container, client)

    assert _rows(admin_browser.get("/profiles", params={"q": "email:Ana.Lima@Example.com"}).text) == [ana]
    assert _rows(admin_browser.get("/profiles", params={"q": f" {EMAIL} "}).text) == [ana]
    assert _rows(admin_browser.get("/profiles", params={"q": "u-ana"}).text) == [ana]
    assert _rows(admin_browser.get("/profiles", params={"q": "a-2"}).text) == [visitor]
    nobody = admin_browser.get("/profiles", params={"q": "email:chen.bo@example.com"}).text
    assert _rows(nobody) == []
    assert "No matches" in nobody


def test_a_malformed_identifier_shows_what_to_send(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    _customers(container, client)

    bad_email = admin_browser.get("/profiles", params={"q": "email:not-an-address"})
    unknown_kind = admin_browser.get("/profiles", params={"q": "shoe_size:42"})

    assert bad_email.status_code == 200
    assert _rows(bad_email.text) == []
    assert "is not a usable email value" in bad_email.text
    assert 'role="alert"' in bad_email.text
    assert "Send identifier=kind:value" in unknown_kind.text


def test_the_list_pages_on_with_next_and_previous(
    container: Container, admin_browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_pages, "CUSTOMER_PAGE", 2)
    web = make_source(container)
    for n in range(3):
        ingest(container, event(web, "page", anonymous_id=f"visitor-{n}", at=T0 + timedelta(hours=n)))
    newest_first = [profile_id_of(container, "anonymous_id", f"visitor-{n}") for n in (2, 1, 0)]

    first = admin_browser.get("/profiles").text
    assert _rows(first) == newest_first[:2]
    assert "Showing 1–2 of 3" in first
    [next_link] = re.findall(r'href="(/profiles\?[^"]*page=2)" rel="next"', first)
    second = admin_browser.get(next_link.replace("&amp;", "&")).text
    assert _rows(second) == newest_first[2:]
    assert "Showing 3–3 of 3" in second
    assert 'rel="next"' not in second
    [previous] = re.findall(r'href="(/profiles[^"]*)" rel="prev"', second)
    assert _rows(admin_browser.get(previous.replace("&amp;", "&")).text) == newest_first[:2]
    assert admin_browser.get("/profiles?page=0").status_code == 422


def test_a_rep_sees_only_customers_of_their_contacts_with_emails_masked(
    container: Container, client: TestClient, rep_client: TestClient, browser: TestClient
) -> None:
    _, ana, visitor = _customers(container, client)  # the admin owns Ana's contact
    rep_contact = rep_client.post("/api/v1/contacts", json={"last_name": "Bao",
                                                            "email": "ren.bao@example.com"}).json()
    web = make_source(container, "App", channel="app")
    ingest(container, event(web, "identify", user_id="u-ren", channel="app",
                            traits={"email": "ren.bao@example.com"}))
    ren = profile_id_of(container, "user_id", "u-ren")
    sign_in(browser, REP_EMAIL)

    page = browser.get("/profiles")

    assert page.status_code == 200, page.text
    assert _rows(page.text) == [ren]
    assert "ren.bao@example.com" not in page.text
    assert f'<a href="/profiles/{ren}">r***@example.com</a>' in page.text
    assert f'href="/contacts/{rep_contact["id"]}"' in page.text
    assert 'href="/profiles"' in browser.get("/").text  # in the navigation
    # searching does not reach past the rule either
    assert _rows(browser.get("/profiles", params={"q": EMAIL}).text) == []
    assert _rows(browser.get("/profiles?linked=no").text) == []
    assert ana not in _rows(browser.get("/profiles?stage=identified").text)
    assert visitor not in _rows(browser.get("/profiles?channel=pos").text)


def test_an_empty_hub_says_where_customers_come_from(admin_browser: TestClient) -> None:
    page = admin_browser.get("/profiles")
    assert page.status_code == 200
    assert "No customers yet" in page.text
    assert "once an event source sends events" in page.text


def test_the_page_is_translated(
    container: Container, client: TestClient, admin_browser: TestClient, token: str
) -> None:
    _, _, visitor = _customers(container, client)
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN"})

    html = admin_browser.get("/profiles").text

    assert "<h1>客户" in html
    assert f"匿名访客 #{visitor}" in html
    assert "门店收银" in html
    assert "已关联 CRM" in html
