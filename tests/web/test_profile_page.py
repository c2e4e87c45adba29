"""The customer 360 page: a stitched customer, reachable from the contact, with undo."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from tests.fixtures.api import REP_EMAIL
from tests.hub.profile_support import T0, event, ingest, make_source, profile_id_of
from tests.web.conftest import csrf_of, sign_in

EMAIL = "ana.lima@example.com"


def _customer(container: Container, client: TestClient) -> tuple[int, int]:
    """A contact, and a profile stitched from anonymous visits, an identify and an order."""
    contact = client.post("/api/v1/contacts", json={"first_name": "Ana", "last_name": "Lima",
                                                    "email": EMAIL}).json()
    client.post("/api/v1/activities", json={
        "type": "call", "subject": "Discovery call", "contact_id": contact["id"],
        "occurred_at": (T0 + timedelta(hours=3)).isoformat()})
    web = make_source(container)
    ingest(container, event(web, "page", name="Pricing", anonymous_id="a-1", at=T0, session_id="s-1"))
    ingest(container, event(web, "identify", user_id="u-ana", anonymous_id="a-1", session_id="s-1",
                            at=T0 + timedelta(hours=1),
                            traits={"email": EMAIL, "name": "Ana Lima", "plan": "pro"}),
           event(web, "track", name="Order Completed", user_id="u-ana", session_id="s-2",
                 at=T0 + timedelta(hours=2), properties={"revenue": "42.00"}))
    pid = profile_id_of(container, "user_id", "u-ana")
    assert pid is not None
    return contact["id"], pid


def test_the_contact_page_links_to_the_customer_360(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    contact_id, pid = _customer(container, client)

    contact_page = admin_browser.get(f"/contacts/{contact_id}")
    assert f'href="/profiles/{pid}"' in contact_page.text

    page = admin_browser.get(f"/profiles/{pid}")
    assert page.status_code == 200
    html = page.text
    for expected in ("Ana Lima", "Customer 360", "Pricing", "Order Completed", "Discovery call",
                     "u-ana", "a-1", "Website", f'href="/contacts/{contact_id}"', "Customer"):
        assert expected in html, expected
    # newest first: the call (3 h) before the order (2 h) before the page view (0 h)
    assert html.index("Discovery call") < html.index("Order Completed") < html.index("Pricing")


def test_a_merged_profile_redirects_to_its_survivor_and_can_be_undone(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    web = make_source(container)
    ingest(container, event(web, "page", anonymous_id="a-1"))
    ingest(container, event(web, "page", user_id="u-1"))
    older, newer = profile_id_of(container, "anonymous_id", "a-1"), profile_id_of(container, "user_id", "u-1")
    ingest(container, event(web, "page", anonymous_id="a-1", user_id="u-1"))

    moved = admin_browser.get(f"/profiles/{newer}", follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"] == f"/profiles/{older}?from={newer}"
    page = admin_browser.get(moved.headers["location"])
    assert f"Profile #{newer} was merged into this one." in page.text
    [merge_id] = [int(m) for m in re.findall(r"/merges/(\d+)/undo", page.text)]

    undone = admin_browser.post(f"/profiles/{older}/merges/{merge_id}/undo",
                                data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)

    assert undone.status_code == 303
    assert profile_id_of(container, "user_id", "u-1") == newer
    assert "The merge was undone" in admin_browser.get(undone.headers["location"]).text


def test_a_rep_without_the_contact_gets_not_found_and_a_rep_with_it_sees_masked_values(
    container: Container, client: TestClient, rep_client: TestClient, browser: TestClient
) -> None:
    _, admins = _customer(container, client)  # the admin owns Ana's contact
    rep_contact = rep_client.post("/api/v1/contacts", json={"last_name": "Bao",
                                                            "email": "ren.bao@example.com"}).json()
    web = make_source(container, "Shop")
    ingest(container, event(web, "identify", user_id="u-ren", traits={"email": "ren.bao@example.com"}))
    reps = profile_id_of(container, "user_id", "u-ren")
    sign_in(browser, REP_EMAIL)

    assert browser.get(f"/profiles/{admins}").status_code == 404
    page = browser.get(f"/profiles/{reps}")
    assert page.status_code == 200
    assert "ren.bao@example.com" not in page.text
    assert "r***@example.com" in page.text
    assert f'href="/contacts/{rep_contact["id"]}"' in page.text
    assert "/undo" not in page.text  # reps do not hold profiles.merge


def test_a_review_is_decided_from_the_page(container: Container, admin_browser: TestClient) -> None:
    web = make_source(container)
    ingest(container, event(web, "identify", user_id="u-1", traits={"email": EMAIL}))
    ingest(container, event(web, "identify", user_id="u-2", traits={"email": EMAIL}))
    first = profile_id_of(container, "user_id", "u-1")
    page = admin_browser.get(f"/profiles/{first}")
    [review_id] = [int(r) for r in re.findall(r"/reviews/(\d+)/merge", page.text)]

    answer = admin_browser.post(f"/profiles/{first}/reviews/{review_id}/merge",
                                data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)

    assert answer.status_code == 303
    assert profile_id_of(container, "user_id", "u-2") == first
    again = admin_browser.post(f"/profiles/{first}/reviews/{review_id}/dismiss",
                               data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert again.status_code == 409
