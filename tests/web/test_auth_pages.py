"""Signing in and out of the web UI, CSRF protection and HTML error pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures.api import ADMIN_EMAIL, PASSWORD
from tests.web.conftest import csrf_of


def test_pages_require_sign_in(browser: TestClient) -> None:
    answer = browser.get("/contacts?q=li", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fcontacts%3Fq%3Dli"


def test_htmx_requests_are_sent_to_the_login_page(browser: TestClient) -> None:
    answer = browser.get("/contacts", headers={"HX-Request": "true"}, follow_redirects=False)
    assert answer.headers["HX-Redirect"].startswith("/login")


def test_sign_in_then_the_api_accepts_the_session_cookie(browser: TestClient) -> None:
    page = browser.get("/login?next=/inbox")
    assert page.status_code == 200
    answer = browser.post("/login", data={
        "email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text),
        "next": "/inbox",
    }, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/inbox"
    assert "httponly" in answer.headers["set-cookie"].lower()
    assert browser.get("/inbox").status_code == 200
    me = browser.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == ADMIN_EMAIL


def test_wrong_password_is_shown_on_the_form(browser: TestClient) -> None:
    page = browser.get("/login")
    answer = browser.post("/login", data={
        "email": ADMIN_EMAIL, "password": "not-the-password", "csrf_token": csrf_of(page.text),
    })
    assert answer.status_code == 401
    assert "Wrong email or password" in answer.text
    assert f'value="{ADMIN_EMAIL}"' in answer.text


def test_login_refuses_a_form_without_its_csrf_token(browser: TestClient) -> None:
    browser.get("/login")
    answer = browser.post("/login", data={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]


def test_next_cannot_point_to_another_site(browser: TestClient) -> None:
    page = browser.get("/login")
    answer = browser.post("/login", data={
        "email": ADMIN_EMAIL, "password": PASSWORD, "csrf_token": csrf_of(page.text),
        "next": "//evil.example.com/",
    }, follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_post_without_the_session_csrf_token_is_refused(admin_browser: TestClient) -> None:
    answer = admin_browser.post("/contacts/new", data={"last_name": "Lima"})
    assert answer.status_code == 403
    forged = admin_browser.post("/contacts/new", data={"last_name": "Lima", "csrf_token": "x" * 64})
    assert forged.status_code == 403
    assert admin_browser.get("/api/v1/contacts").json()["count"] == 0


def test_sign_out_ends_the_session(admin_browser: TestClient, token: str) -> None:
    answer = admin_browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.headers["location"] == "/login"
    assert admin_browser.get("/", follow_redirects=False).status_code == 303
    assert admin_browser.get("/api/v1/me").status_code == 401


def test_missing_records_get_an_html_404_and_the_api_keeps_json(
    admin_browser: TestClient,
) -> None:
    page = admin_browser.get("/contacts/999")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "No contact with id 999" in page.text
    assert admin_browser.get("/no-such-page").status_code == 404
    api = admin_browser.get("/api/v1/contacts/999")
    assert api.headers["content-type"].startswith("application/problem+json")


def test_non_admins_cannot_open_the_custom_field_editor(browser: TestClient) -> None:
    from tests.web.conftest import sign_in

    sign_in(browser, "rep@example.com")
    answer = browser.get("/admin/custom-fields")
    assert answer.status_code == 403
    assert "Only administrators" in answer.text
