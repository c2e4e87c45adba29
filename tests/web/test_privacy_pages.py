"""The privacy officer's pages: request list with deadlines, opening, running and rejecting."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.fixtures.api import REP_EMAIL
from tests.web.conftest import sign_in

EMAIL = "lan.he@example.com"


def _ok(answer: Any, status: int = 201) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def lan(client: TestClient) -> dict[str, Any]:
    contact = _ok(client.post("/api/v1/contacts", json={
        "first_name": "Lan", "last_name": "He", "email": EMAIL, "phone": "+86 138 2222 3333"}))
    _ok(client.post("/api/v1/activities", json={
        "type": "call", "subject": "Intro call", "occurred_at": "2026-02-01T08:00:00Z",
        "contact_id": contact["id"]}))
    return contact


def _open(admin_browser: TestClient, token: str, kind: str, subject: str) -> int:
    answer = admin_browser.post("/privacy/requests", data={
        "csrf_token": token, "subject": subject, "kind": kind, "law": "gdpr", "person": EMAIL,
    }, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    match = re.match(r"/privacy/requests/(\d+)\?done=created", answer.headers["location"])
    assert match
    return int(match.group(1))


def test_the_list_highlights_overdue_requests(
    admin_browser: TestClient, client: TestClient, lan: dict[str, Any]
) -> None:
    # given a request received 40 days ago under GDPR and one received today
    old = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
    late = _ok(client.post("/api/v1/privacy/requests",
                           json={"kind": "access", "email": EMAIL, "received_on": old}))
    fresh = _ok(client.post("/api/v1/privacy/requests", json={"kind": "erasure", "email": EMAIL,
                                                                "law": "pipl"}))

    # when the officer opens the list
    page = admin_browser.get("/privacy")

    # then both are listed with deadlines; the late one first and highlighted
    assert page.status_code == 200
    rows = re.findall(r'<tr class="([^"]*)">\s*<td class="title-cell"><a href="/privacy/requests/(\d+)"',
                      page.text)
    assert rows == [("overdue", str(late["id"])), ("", str(fresh["id"]))]
    assert "10 days overdue" in page.text
    assert "Overdue requests: 1" in page.text
    overdue_only = admin_browser.get("/privacy?overdue=1").text
    assert f'/privacy/requests/{fresh["id"]}"' not in overdue_only


def test_an_officer_finds_the_person_opens_an_erasure_and_runs_it(
    admin_browser: TestClient, token: str, client: TestClient, lan: dict[str, Any]
) -> None:
    # when the officer looks the person up by e-mail
    found = admin_browser.get("/privacy/new", params={"person": "LAN.HE@example.com"})
    assert found.status_code == 200
    assert f'value="contacts:{lan["id"]}"' in found.text

    # and opens an erasure request for the record found
    request_id = _open(admin_browser, token, "erasure", f"contacts:{lan['id']}")

    # then the request page shows what is held before anything is erased
    page = admin_browser.get(f"/privacy/requests/{request_id}")
    assert page.status_code == 200
    assert "Held now" in page.text
    assert re.search(r"<code>activities</code></td><td>[^<]*</td><td>1</td>", page.text)
    assert "Erase now" in page.text

    # when the officer runs it
    ran = admin_browser.post(f"/privacy/requests/{request_id}/run", data={"csrf_token": token},
                             follow_redirects=False)
    assert ran.status_code == 303
    assert ran.headers["location"].endswith("done=erased")

    # then the report lists every store and the residue check
    report = admin_browser.get(ran.headers["location"]).text
    assert "Erasure report" in report
    assert re.search(r"<code>contacts</code></td><td>1</td><td>1</td>", report)
    assert "clean" in report
    assert "Erase now" not in report
    assert client.get(f"/api/v1/contacts/{lan['id']}").status_code == 404


def test_an_access_request_is_answered_and_its_bundle_downloaded(
    admin_browser: TestClient, token: str, lan: dict[str, Any]
) -> None:
    request_id = _open(admin_browser, token, "access", f"contacts:{lan['id']}")

    ran = admin_browser.post(f"/privacy/requests/{request_id}/run", data={"csrf_token": token},
                             follow_redirects=False)
    page = admin_browser.get(ran.headers["location"]).text
    bundle = admin_browser.get(f"/privacy/requests/{request_id}/bundle")

    assert "Request answered." in page
    assert "Download bundle" in page
    assert bundle.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert "subject.json" in names
    assert "activities.csv" in names


def test_a_request_is_rejected_only_with_a_reason(
    admin_browser: TestClient, token: str, lan: dict[str, Any]
) -> None:
    request_id = _open(admin_browser, token, "access", f"contacts:{lan['id']}")

    empty = admin_browser.post(f"/privacy/requests/{request_id}/reject",
                               data={"csrf_token": token, "reason": ""})
    rejected = admin_browser.post(f"/privacy/requests/{request_id}/reject",
                                  data={"csrf_token": token, "reason": "Identity not verified"},
                                  follow_redirects=False)

    assert empty.status_code == 422
    assert "Say why the request is rejected" in empty.text
    assert rejected.status_code == 303
    page = admin_browser.get(rejected.headers["location"]).text
    assert "Request rejected." in page
    assert "Rejected: Identity not verified" in page


def test_a_lookup_that_finds_nobody_says_so(admin_browser: TestClient) -> None:
    page = admin_browser.get("/privacy/new", params={"person": "nobody@example.com"})

    assert page.status_code == 200
    assert "nothing is held about them" in page.text


def test_a_bad_date_is_reported_on_its_field(
    admin_browser: TestClient, token: str, lan: dict[str, Any]
) -> None:
    answer = admin_browser.post("/privacy/requests", data={
        "csrf_token": token, "subject": f"contacts:{lan['id']}", "kind": "access", "law": "gdpr",
        "received_on": "31/01/2026", "person": EMAIL})

    assert answer.status_code == 422
    assert "Dates must look like 2026-01-31." in answer.text


def test_the_pages_are_for_privacy_officers_only(app: FastAPI, api_tokens: dict[str, str],
                                                  admin_browser: TestClient) -> None:
    assert 'href="/privacy"' in admin_browser.get("/").text
    with TestClient(app, raise_server_exceptions=False) as rep:
        sign_in(rep, REP_EMAIL)
        assert 'href="/privacy"' not in rep.get("/").text
        assert rep.get("/privacy").status_code == 403
        assert rep.get("/privacy/new").status_code == 403


def test_the_list_is_translated(admin_browser: TestClient, token: str) -> None:
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "zh_CN"})
    page = admin_browser.get("/privacy").text
    admin_browser.post("/locale", data={"csrf_token": token, "locale": "en"})

    assert "隐私请求" in page
