"""The merge-review queue (/admin/merge-reviews): both profiles side by side, decisions,
status filter and paging, masking, and the profiles.merge capability."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.trust.auth import create_user
from rapport.trust.roles import create_role, set_user_roles
from rapport.web.routes import profiles as profile_pages
from tests.fixtures.api import PASSWORD, REP_EMAIL
from tests.hub.profile_support import event, ingest, make_source, profile_id_of, reviews
from tests.web.conftest import csrf_of, sign_in

EMAIL = "ana.lima@example.com"
MERGER_EMAIL = "merger@example.com"


def _review_of_two_user_ids(container: Container, client: TestClient, email: str = EMAIL,
                            users: tuple[str, str] = ("u-1", "u-2")) -> tuple[int, int, int]:
    """A contact; its profile (user id u-1, linked by e-mail) and a second user id giving the
    same e-mail, kept apart for review. Returns (contact id, first profile, second profile)."""
    contact = client.post("/api/v1/contacts", json={"first_name": "Ana", "last_name": "Lima",
                                                    "email": email}).json()
    web = make_source(container, f"Website {users[0]}")
    ingest(container, event(web, "identify", user_id=users[0], traits={"email": email,
                                                                       "name": "Ana Lima"}))
    ingest(container, event(web, "identify", user_id=users[1], traits={"email": email}))
    first, second = profile_id_of(container, "user_id", users[0]), profile_id_of(container, "user_id", users[1])
    assert first is not None
    assert second is not None
    assert first != second
    return contact["id"], first, second


def _review_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'action="/admin/merge-reviews/(\d+)/merge"', html)]


def _merger(container: Container, permissions: dict[str, Any]) -> None:
    """A user whose only role grants ``permissions`` (profiles.merge among them)."""
    with container.uow() as uow:
        secret = container.settings.secret_key
        create_role(uow.session, secret, None, name="merger", label="Merger", description=None,
                    permissions=permissions)
        user = create_user(uow.session, MERGER_EMAIL, PASSWORD, name="Mo Merger")
        set_user_roles(uow.session, secret, None, user.user_id, ["merger"])
        uow.commit()


def test_open_reviews_show_both_profiles_side_by_side(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    contact_id, first, second = _review_of_two_user_ids(container, client)

    page = admin_browser.get("/admin/merge-reviews")

    assert page.status_code == 200, page.text
    html = page.text
    [review_id] = _review_ids(html)
    assert review_id == reviews(container)[0].id
    assert f'href="/profiles/{first}"' in html
    assert f'href="/profiles/{second}"' in html
    assert f'href="/contacts/{contact_id}"' in html  # the linked contact, by name
    assert "Contact: Ana Lima" in html
    assert "A new user id arrived with an identifier of a profile that holds another user id" in html
    assert EMAIL in html  # administrators see the identifier in clear
    assert f'action="/admin/merge-reviews/{review_id}/dismiss"' in html
    assert 'name="csrf_token"' in html
    assert 'href="/admin/merge-reviews"' in html  # in the navigation


def test_merging_from_the_queue_joins_the_profiles_and_files_the_review_under_merged(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    _, first, second = _review_of_two_user_ids(container, client)
    page = admin_browser.get("/admin/merge-reviews")
    [review_id] = _review_ids(page.text)

    answer = admin_browser.post(f"/admin/merge-reviews/{review_id}/merge",
                                data={"csrf_token": csrf_of(page.text), "status": "open"},
                                follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/merge-reviews?status=open&done=merge"
    after = admin_browser.get(answer.headers["location"]).text
    assert "Merged: the two profiles are one now." in after
    assert "Nothing to review" in after
    assert profile_id_of(container, "user_id", "u-2") == first  # one profile now
    assert reviews(container)[0].status == "merged"
    merged = admin_browser.get("/admin/merge-reviews?status=merged").text
    assert "Merged" in merged
    assert "by Ada Admin" in merged
    assert f'href="/profiles/{first}"' in merged
    assert f"Profile #{second} was merged into this one." in merged

    again = admin_browser.post(f"/admin/merge-reviews/{review_id}/dismiss",
                               data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 409
    assert "already merged" in again.text


def test_keeping_apart_from_the_queue_leaves_both_profiles(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    _, first, second = _review_of_two_user_ids(container, client)
    page = admin_browser.get("/admin/merge-reviews")
    [review_id] = _review_ids(page.text)

    answer = admin_browser.post(f"/admin/merge-reviews/{review_id}/dismiss",
                                data={"csrf_token": csrf_of(page.text)})

    assert answer.status_code == 200
    assert "Kept apart: the two profiles stay separate." in answer.text
    assert profile_id_of(container, "user_id", "u-2") == second
    assert reviews(container)[0].status == "dismissed"
    listed = admin_browser.get("/admin/merge-reviews?status=dismissed").text
    assert f'id="review-{review_id}"' in listed
    assert f'action="/admin/merge-reviews/{review_id}/merge"' not in listed  # decided: no buttons


def test_a_decision_without_the_forms_csrf_token_is_refused(
    container: Container, client: TestClient, admin_browser: TestClient
) -> None:
    _review_of_two_user_ids(container, client)
    [review_id] = _review_ids(admin_browser.get("/admin/merge-reviews").text)

    answer = admin_browser.post(f"/admin/merge-reviews/{review_id}/merge", data={})

    assert answer.status_code == 403
    assert reviews(container)[0].status == "open"


def test_the_queue_pages_and_filters_by_status(
    container: Container, client: TestClient, admin_browser: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(profile_pages, "REVIEW_PAGE", 1)
    _review_of_two_user_ids(container, client)
    _review_of_two_user_ids(container, client, "chen.bo@example.com", ("u-3", "u-4"))
    older, newer = (r.id for r in reviews(container))

    first_page = admin_browser.get("/admin/merge-reviews").text
    assert _review_ids(first_page) == [older]
    [next_link] = re.findall(r'href="(/admin/merge-reviews\?status=open&amp;cursor=\d+)"', first_page)
    second_page = admin_browser.get(next_link.replace("&amp;", "&")).text
    assert _review_ids(second_page) == [newer]
    assert "First page" in second_page
    assert "Waiting for review <span class=\"count\">2</span>" in first_page
    # an unknown status shows the open ones rather than failing
    assert _review_ids(admin_browser.get("/admin/merge-reviews?status=bogus").text) == [older]
    empty = admin_browser.get("/admin/merge-reviews?status=merged").text
    assert "No decided reviews" in empty


def test_an_empty_queue_says_what_lands_there(admin_browser: TestClient) -> None:
    page = admin_browser.get("/admin/merge-reviews")
    assert page.status_code == 200
    assert "Nothing to review" in page.text
    assert "stitching keeps them apart" in page.text


def test_a_user_without_profiles_merge_is_refused(
    container: Container, client: TestClient, browser: TestClient
) -> None:
    _review_of_two_user_ids(container, client)
    review_id = reviews(container)[0].id
    token = sign_in(browser, REP_EMAIL)

    assert browser.get("/admin/merge-reviews").status_code == 403
    decided = browser.post(f"/admin/merge-reviews/{review_id}/merge", data={"csrf_token": token})
    assert decided.status_code == 403
    assert reviews(container)[0].status == "open"
    assert 'href="/admin/merge-reviews"' not in browser.get("/").text


def test_a_role_seeing_emails_masked_sees_the_identifier_and_traits_masked(
    container: Container, client: TestClient, browser: TestClient
) -> None:
    _review_of_two_user_ids(container, client)
    _merger(container, {"objects": {"profiles": {"rights": ["read"], "scope": "all"}},
                        "fields": {"*": "clear", "contact.email": "masked"},
                        "capabilities": ["profiles.merge"]})
    sign_in(browser, MERGER_EMAIL)

    page = browser.get("/admin/merge-reviews")

    assert page.status_code == 200, page.text
    assert EMAIL not in page.text
    assert "a***@example.com" in page.text
    assert "Ana Lima" in page.text  # the profile's name trait
    assert "Contact: Ana Lima" not in page.text  # the contact itself is not theirs to read
    assert 'href="/admin/merge-reviews"' in browser.get("/").text


def test_profiles_the_user_may_not_read_show_their_id_only_and_can_still_be_decided(
    container: Container, client: TestClient, browser: TestClient
) -> None:
    _, first, second = _review_of_two_user_ids(container, client)
    _merger(container, {"capabilities": ["profiles.merge"]})
    token = sign_in(browser, MERGER_EMAIL)

    page = browser.get("/admin/merge-reviews")

    assert page.status_code == 200
    assert "Ana Lima" not in page.text
    assert EMAIL not in page.text
    assert page.text.count("You may not see this profile's details.") == 2
    [review_id] = _review_ids(page.text)
    decided = browser.post(f"/admin/merge-reviews/{review_id}/dismiss",
                           data={"csrf_token": token}, follow_redirects=False)
    assert decided.status_code == 303  # as through the API: profiles.merge decides
    assert {first, second} == {profile_id_of(container, "user_id", u) for u in ("u-1", "u-2")}


def test_the_page_is_translated(
    container: Container, client: TestClient, admin_browser: TestClient, token: str
) -> None:
    _review_of_two_user_ids(container, client)
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN"})

    html = admin_browser.get("/admin/merge-reviews").text

    assert "合并审核" in html
    assert "新的用户 ID 带着另一档案的标识符到来" in html
    assert "保持分开" in html
