"""The web UI follows the same access rules: masked rows, reveal, hidden rows, role admin."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.trust.conftest import Org
from tests.web.conftest import csrf_of, sign_in


@pytest.fixture
def browser_of(app: FastAPI, org: Org) -> Iterator[Callable[[str], TestClient]]:
    clients: list[TestClient] = []

    def make(user: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        client.headers["X-CSRF-Token"] = sign_in(client, f"{user}@org.example.com")
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_a_rep_sees_masked_contact_data_and_can_reveal_it(
    org: Org, browser_of: Callable[[str], TestClient]
) -> None:
    rep = browser_of("rep_a")
    contact = org.records["contacts"]["rep_a"]
    page = rep.get(f"/contacts/{contact}").text
    assert "138****0001" in page
    assert org.planted["rep_a"]["phone"] not in page
    assert f'hx-post="/contacts/{contact}/reveal/phone"' in page

    revealed = rep.post(f"/contacts/{contact}/reveal/phone")

    assert revealed.status_code == 200, revealed.text
    assert "revealed" in revealed.text
    assert "138 0000 0001" in revealed.text or "+86 138 0000 0001" in revealed.text


def test_another_reps_contact_page_is_not_found(org: Org, browser_of: Callable[[str], TestClient]) -> None:
    answer = browser_of("rep_a").get(f"/contacts/{org.records['contacts']['rep_d']}")
    assert answer.status_code == 404
    assert org.planted["rep_d"]["last_name"] not in answer.text


def test_a_marketer_sees_no_phone_row_and_no_reveal_button(
    org: Org, browser_of: Callable[[str], TestClient]
) -> None:
    page = browser_of("marketer").get(f"/contacts/{org.records['contacts']['rep_a']}").text
    assert 'data-field="phone"' not in page
    assert 'data-field="email"' in page
    assert "/reveal/" not in page
    assert "p***@example.com" in page


def test_the_nav_shows_only_objects_the_user_may_read(
    org: Org, browser_of: Callable[[str], TestClient]
) -> None:
    page = browser_of("marketer").get("/").text
    assert 'href="/leads"' in page
    assert 'href="/tickets"' not in page


def test_admins_edit_roles_as_new_versions_and_bad_json_is_explained(
    org: Org, browser_of: Callable[[str], TestClient], as_user: Callable[[str], TestClient]
) -> None:
    admin = browser_of("admin")
    page = admin.get("/admin/roles")
    assert page.status_code == 200
    token = csrf_of(page.text)

    bad = admin.post("/admin/roles/marketer", data={
        "csrf_token": token, "permissions": "{not json", "label": "Marketer"})
    assert bad.status_code == 422
    assert "not valid JSON" in bad.text

    refused = admin.post("/admin/roles/marketer", data={
        "csrf_token": token, "label": "Marketer",
        "permissions": '{"objects": {"leads": {"rights": ["read"], "scope": "galaxy"}}}'})
    assert refused.status_code == 422
    assert "objects.leads.scope" in refused.text

    saved = admin.post("/admin/roles/marketer", data={
        "csrf_token": token, "label": "Marketer",
        "permissions": '{"objects": {"leads": {"rights": ["read"], "scope": "all"}}}'},
        follow_redirects=False)
    assert saved.status_code == 303
    role = as_user("admin").get("/api/v1/roles/marketer").json()
    assert role["version"] == 2
    versions = as_user("admin").get("/api/v1/roles/marketer/versions").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    # the change applies to the next request of a marketer
    assert as_user("marketer").get("/api/v1/contacts").status_code == 403


def test_admins_grant_roles_and_reps_cannot_open_the_page(
    org: Org, browser_of: Callable[[str], TestClient], as_user: Callable[[str], TestClient]
) -> None:
    assert browser_of("rep_a").get("/admin/roles").status_code == 403
    admin = browser_of("admin")
    token = csrf_of(admin.get("/admin/roles").text)
    granted = admin.post(f"/admin/users/{org.users['nobody']}/roles",
                         data={"csrf_token": token, "roles": ["auditor"]}, follow_redirects=False)
    assert granted.status_code == 303
    assert as_user("nobody").get("/api/v1/me").json()["roles"] == ["auditor"]
