"""Fixtures for the web UI: a browser-like client and a signed-in session."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.fixtures.api import ADMIN_EMAIL, PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, email: str = ADMIN_EMAIL, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the CSRF token of the new session."""
    page = client.get("/login")
    answer = client.post("/login", data={
        "email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/",
    }, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/").text)


@pytest.fixture
def browser(app: FastAPI, api_tokens: dict[str, str]) -> Iterator[TestClient]:
    """A client with no credentials, like a fresh browser (users exist)."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin_browser(browser: TestClient) -> TestClient:
    browser.headers["X-Test-Csrf"] = sign_in(browser)
    return browser


@pytest.fixture
def token(admin_browser: TestClient) -> str:
    return admin_browser.headers["X-Test-Csrf"]
