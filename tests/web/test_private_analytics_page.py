"""The private analytics page: ask a question, read the noisy answer, watch the budget."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.crm.models import Lead
from tests.fixtures.api import REP_EMAIL
from tests.web.conftest import sign_in


def _leads(container: Container, n: int) -> None:
    with container.uow() as uow:
        uow.session.add_all([Lead(last_name=f"Lead {i}", status="new", custom={})
                             for i in range(n)])
        uow.commit()


def _ask(browser: TestClient, token: str, **fields: str) -> str:
    answer = browser.post("/analytics/private", data={"csrf_token": token, **fields})
    return f"{answer.status_code}\n{answer.text}"


def test_an_analyst_sees_the_form_the_budget_bar_and_a_nav_link(admin_browser: TestClient) -> None:
    page = admin_browser.get("/analytics/private")
    assert page.status_code == 200
    assert 'href="/analytics/private"' in page.text  # the navigation link
    assert '<form method="post" action="/analytics/private"' in page.text
    assert re.search(r'<progress class="budget-bar" value="0.0" max="10.0"', page.text)
    assert "No queries yet." in page.text


def test_running_a_query_shows_noisy_rows_with_error_bounds_and_spends_budget(
    admin_browser: TestClient, token: str, container: Container,
) -> None:
    _leads(container, 12)
    answer = admin_browser.post("/analytics/private", data={
        "csrf_token": token, "object": "leads", "measure": "count", "group_by": "status",
        "epsilon": "0.5", "field": "", "lower": "", "upper": "", "filters": "",
    })
    assert answer.status_code == 200, answer.text
    assert 'id="result"' in answer.text
    rows = re.findall(r"<tr><td>([^<]+)</td><td>[^<]+</td><td>± ([0-9.]+)</td></tr>", answer.text)
    assert [label for label, _ in rows][:2] == ["New", "Working"]
    assert float(rows[0][1]) > 0
    assert re.search(r'<progress class="budget-bar" value="0.5" max="10.0"', answer.text)
    assert "count leads / status" in answer.text  # the recent queries list


def test_an_invalid_query_is_shown_again_with_field_errors_and_spends_nothing(
    admin_browser: TestClient, token: str,
) -> None:
    answer = admin_browser.post("/analytics/private", data={
        "csrf_token": token, "object": "accounts", "measure": "sum", "field": "annual_revenue",
        "lower": "10", "upper": "1", "epsilon": "0.5", "group_by": "", "filters": "",
    })
    assert answer.status_code == 422
    assert "must be greater than lower" in answer.text
    assert 'value="10"' in answer.text  # what was typed is kept
    assert re.search(r'<progress class="budget-bar" value="0.0"', answer.text)

    too_much = admin_browser.post("/analytics/private", data={
        "csrf_token": token, "object": "leads", "measure": "count", "epsilon": "abc"})
    assert too_much.status_code == 422
    assert 'class="field-error"' in too_much.text


def test_an_exhausted_budget_is_explained_on_the_page(
    admin_browser: TestClient, token: str, client: TestClient,
) -> None:
    me = client.get("/api/v1/me").json()
    client.put(f"/api/v1/analytics/budgets/{me['user_id']}", json={"epsilon_total": 0.5})
    form = {"object": "leads", "measure": "count", "epsilon": "0.5"}
    assert admin_browser.post("/analytics/private", data={"csrf_token": token, **form}).status_code == 200
    refused = admin_browser.post("/analytics/private", data={"csrf_token": token, **form})
    assert refused.status_code == 409
    assert "Nothing was spent" in refused.text


def test_a_user_without_the_capability_gets_no_link_and_no_page(browser: TestClient) -> None:
    sign_in(browser, REP_EMAIL)
    assert 'href="/analytics/private"' not in browser.get("/").text
    assert browser.get("/analytics/private").status_code == 403
