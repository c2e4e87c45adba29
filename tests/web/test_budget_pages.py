"""Privacy officers and admins set analysts' privacy budgets on a page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures.api import PASSWORD, REP_EMAIL
from tests.web.conftest import csrf_of, sign_in


def test_an_admin_sets_a_budget_and_bad_input_is_explained(
    admin_browser: TestClient, client: TestClient
) -> None:
    page = admin_browser.get("/analytics/budgets")
    assert page.status_code == 200
    token = csrf_of(page.text)

    not_a_number = admin_browser.post("/analytics/budgets", data={
        "csrf_token": token, "email": REP_EMAIL, "epsilon_total": "lots"})
    assert not_a_number.status_code == 422
    assert "must be a number" in not_a_number.text
    nobody = admin_browser.post("/analytics/budgets", data={
        "csrf_token": token, "email": "ghost@example.com", "epsilon_total": "5"})
    assert nobody.status_code == 422
    too_much = admin_browser.post("/analytics/budgets", data={
        "csrf_token": token, "email": REP_EMAIL, "epsilon_total": "-1"})
    assert too_much.status_code == 422

    saved = admin_browser.post("/analytics/budgets", data={
        "csrf_token": token, "email": REP_EMAIL, "epsilon_total": "4.5"},
        follow_redirects=False)
    assert saved.status_code == 303
    budgets = client.get("/api/v1/analytics/budgets").json()
    items = budgets["items"] if isinstance(budgets, dict) else budgets
    assert any(b["email"] == REP_EMAIL and b["total"] == 4.5 for b in items)
    assert "4.5" in admin_browser.get("/analytics/budgets").text


def test_a_rep_cannot_open_the_budgets_page(browser: TestClient) -> None:
    sign_in(browser, REP_EMAIL, PASSWORD)
    assert browser.get("/analytics/budgets").status_code == 403
