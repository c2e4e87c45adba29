"""Sign-in with a two-factor code, lockout on the login page, and the account security page."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.trust import totp
from tests.fixtures.api import ADMIN_EMAIL, PASSWORD, REP_EMAIL
from tests.trust.test_accounts import Clock, enrol, require_totp_role
from tests.trust.test_accounts import clock as clock  # noqa: PLC0414 - the fixture
from tests.web.conftest import csrf_of, sign_in

TICKET = re.compile(r'name="ticket" value="([^"]+)"')
SECRET = re.compile(r"<code>([A-Z2-7 ]{20,})</code>")


def password_step(browser: TestClient, email: str = ADMIN_EMAIL,
                  password: str = PASSWORD) -> tuple[int, str]:
    page = browser.get("/login")
    answer = browser.post("/login", data={"email": email, "password": password,
                                          "csrf_token": csrf_of(page.text), "next": "/inbox"},
                          follow_redirects=False)
    return answer.status_code, answer.text


def code_step(browser: TestClient, page: str, code: str) -> tuple[int, str, str]:
    match = TICKET.search(page)
    assert match, "the page holds no sign-in ticket"
    answer = browser.post("/login/code", data={"ticket": match.group(1), "code": code,
                                               "csrf_token": csrf_of(page)},
                          follow_redirects=False)
    return answer.status_code, answer.headers.get("location", ""), answer.text


# ---- sign-in -------------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_after_the_password(
        browser: TestClient, client: TestClient, clock: Clock) -> None:
    secret = enrol(client, clock)  # the admin, with the current step's code

    status, page = password_step(browser)
    assert status == 200
    assert "Two-factor sign-in" in page
    assert browser.get("/api/v1/me").status_code == 401  # no session yet

    status, location, _ = code_step(browser, page, totp.code_at(secret, clock.step + 1))

    assert (status, location) == (303, "/inbox")
    assert browser.get("/api/v1/me").json()["email"] == ADMIN_EMAIL


def test_a_wrong_or_used_code_is_refused_on_the_form(
        app: FastAPI, browser: TestClient, client: TestClient, clock: Clock) -> None:
    secret = enrol(client, clock)
    _, page = password_step(browser)

    status, _, again = code_step(browser, page, "123 45")
    assert status == 401
    assert "Wrong code" in again
    used = totp.code_at(secret, clock.step)  # the enrolment's code
    status, _, again = code_step(browser, again, used)
    assert status == 401
    assert "already used" in again
    assert browser.get("/api/v1/me").status_code == 401


def test_the_ticket_works_only_in_the_browser_that_gave_the_password(
        app: FastAPI, browser: TestClient, client: TestClient, clock: Clock) -> None:
    secret = enrol(client, clock)
    _, page = password_step(browser)
    ticket = TICKET.search(page)
    assert ticket
    with TestClient(app, raise_server_exceptions=False) as other:
        form = other.get("/login").text
        answer = other.post("/login/code", data={
            "ticket": ticket.group(1), "code": totp.code_at(secret, clock.step + 1),
            "csrf_token": csrf_of(form)}, follow_redirects=False)
        assert answer.status_code == 401
        assert "enter your password again" in answer.text
        assert other.get("/api/v1/me").status_code == 401


def test_a_locked_account_is_told_when_to_retry_even_with_the_right_password(
        browser: TestClient, clock: Clock) -> None:
    for _ in range(4):
        assert password_step(browser, REP_EMAIL, "not-the-password")[0] == 401
    page = browser.get("/login")
    locked = browser.post("/login", data={"email": REP_EMAIL, "password": "not-the-password",
                                          "csrf_token": csrf_of(page.text)})
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "60"
    assert "Try again in 1 min" in locked.text

    status, text = password_step(browser, REP_EMAIL, PASSWORD)
    assert status == 429
    assert "locked" in text
    clock.advance(61)
    assert password_step(browser, REP_EMAIL, PASSWORD)[0] == 303


def test_a_role_requiring_two_factor_enrols_at_sign_in(
        browser: TestClient, container: Container, clock: Clock) -> None:
    require_totp_role(container, REP_EMAIL, "sales_rep")

    status, page = password_step(browser, REP_EMAIL)

    assert status == 200
    assert "Set up two-factor sign-in" in page
    assert '<svg role="img" aria-label="QR code"' in page
    assert "otpauth://totp/Rapport:rep%40example.com" in page
    match = SECRET.search(page)
    assert match
    secret = match.group(1).replace(" ", "")
    status, location, _ = code_step(browser, page, totp.code_at(secret, clock.step))
    assert (status, location) == (303, "/inbox")
    security = browser.get("/account/security").text
    assert "Your role requires two-factor sign-in, so it stays on." in security


# ---- the account security page -------------------------------------------------------------


def test_the_page_lists_sessions_and_tokens(admin_browser: TestClient) -> None:
    page = admin_browser.get("/account/security")
    assert page.status_code == 200
    assert "This session" in page.text
    assert "<td>cli</td>" in page.text  # the fixture's token
    assert 'href="/account/security"' in admin_browser.get("/").text  # the user menu


def test_tokens_are_created_once_and_revoked(admin_browser: TestClient, token: str) -> None:
    created = admin_browser.post("/account/security/tokens", data={
        "csrf_token": token, "name": "ERP sync", "days": "30", "roles": "admin"})
    assert created.status_code == 201
    shown = re.search(r">(rpt_[A-Za-z0-9_-]+)</textarea>", created.text)
    assert shown
    assert "ERP sync" in created.text
    assert shown.group(1) not in admin_browser.get("/account/security").text  # shown once
    assert admin_browser.get("/api/v1/me", headers={
        "Authorization": f"Bearer {shown.group(1)}"}).json()["roles"] == ["admin"]

    bad = admin_browser.post("/account/security/tokens", data={
        "csrf_token": token, "name": "", "days": "9999"})
    assert bad.status_code == 422
    assert "Give the token a name" in bad.text
    assert "Choose 1 to 365 days" in bad.text

    token_id = re.search(r"/account/security/tokens/(\d+)/revoke", created.text)
    assert token_id
    revoked = admin_browser.post(f"/account/security/tokens/{token_id.group(1)}/revoke",
                                 data={"csrf_token": token}, follow_redirects=False)
    assert revoked.status_code == 303
    page = admin_browser.get(revoked.headers["location"]).text
    assert "Token revoked." in page
    assert "<td>ERP sync</td>" not in page


def test_two_factor_is_set_up_and_turned_off_on_the_page(
        admin_browser: TestClient, token: str, clock: Clock) -> None:
    started = admin_browser.post("/account/security/totp/start", data={"csrf_token": token})
    assert started.status_code == 200
    match = SECRET.search(started.text)
    assert match
    secret = match.group(1).replace(" ", "")
    wrong = admin_browser.post("/account/security/totp/confirm",
                               data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 422
    assert "Wrong code" in wrong.text

    on = admin_browser.post("/account/security/totp/confirm",
                            data={"csrf_token": token, "code": totp.code_at(secret, clock.step)})
    assert "Two-factor sign-in is on." in on.text

    off = admin_browser.post("/account/security/totp/disable", data={
        "csrf_token": token, "code": totp.code_at(secret, clock.step + 1)})
    assert "Two-factor sign-in is off." in off.text


def test_other_sessions_are_ended_from_the_page(
        app: FastAPI, admin_browser: TestClient, token: str) -> None:
    with TestClient(app, raise_server_exceptions=False) as phone:
        sign_in(phone)
        assert admin_browser.get("/account/security").text.count("/revoke\"") >= 2
        ended = admin_browser.post("/account/security/sessions/revoke-others",
                                   data={"csrf_token": token})
        assert "Signed out of every other session." in ended.text
        assert phone.get("/api/v1/me").status_code == 401
        assert admin_browser.get("/api/v1/me").status_code == 200


def test_a_form_post_without_its_csrf_token_is_refused(admin_browser: TestClient) -> None:
    for path, data in (("/account/security/tokens", {"name": "x"}),
                       ("/account/security/sessions/revoke-others", {}),
                       ("/account/security/totp/start", {})):
        answer = admin_browser.post(path, data=data)
        assert answer.status_code == 403, path
        assert "form expired" in answer.text
    assert "<td>x</td>" not in admin_browser.get("/account/security").text


def test_pages_carry_the_secure_headers_and_need_no_inline_code(
        admin_browser: TestClient) -> None:
    for path in ("/login", "/account/security", "/", "/static/rapport.js"):
        answer = admin_browser.get(path)
        assert answer.status_code == 200, path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        if path.startswith("/static"):
            continue
        html = answer.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
        assert not re.search(r"\son[a-z]+=", html), "inline event handler"
        assert not re.search(r"\sstyle=|<style", html), "inline style"


def test_the_page_and_the_lock_message_are_translated(
        admin_browser: TestClient, token: str, clock: Clock) -> None:
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN"})
    page = admin_browser.get("/account/security").text
    assert "账户安全" in page
    assert "最多 365 天。" in page
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "en"})

    admin_browser.post("/logout", data={"csrf_token": token})
    for _ in range(5):
        form = admin_browser.get("/login?lang=zh_CN")
        assert 'action="/login?lang=zh_CN"' in form.text  # the answer keeps the language
        locked = admin_browser.post("/login?lang=zh_CN", data={
            "email": REP_EMAIL, "password": "wrong-password", "csrf_token": csrf_of(form.text)})
    assert "请在 1 分钟后重试" in locked.text
