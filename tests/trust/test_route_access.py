"""Every API route enforces access: a contract test that walks the whole OpenAPI document.

For each route and method it calls the API
- without credentials (401 for every route),
- as a signed-in user holding no role (no 2xx outside a short list of self-service routes),
- as a sales rep aimed at another rep's records (their values never appear in an answer,
  and the rep's own sensitive values appear only masked).
A new route with a path parameter the walker does not know fails the test until the walker
is taught how to aim it; a route cannot be added without being walked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.trust.conftest import Org

# Routes a user with no role may use successfully: about themselves, or public metadata.
SELF_SERVICE = {
    ("GET", "/api/v1/me"), ("GET", "/api/v1/me/sessions"), ("DELETE", "/api/v1/me/sessions"),
    ("GET", "/api/v1/me/tokens"), ("POST", "/api/v1/me/tokens"), ("GET", "/api/v1/me/totp"),
    ("POST", "/api/v1/me/totp"), ("GET", "/api/v1/roles"), ("GET", "/api/v1/roles/{role}"),
    ("GET", "/api/v1/roles/{role}/versions"), ("GET", "/api/v1/users/{user_id}/roles"),
    ("GET", "/api/v1/schema"), ("GET", "/api/v1/schema/{object_name}"),
    ("GET", "/api/v1/custom-fields"), ("GET", "/api/v1/custom-objects"),
    ("GET", "/api/v1/search"), ("GET", "/api/v1/analytics/budget"),
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PUBLIC = {"/healthz"}  # liveness for load balancers: says "ok" and the version, nothing else


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    document = app.openapi()
    return [(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method.upper() in METHODS and path not in PUBLIC]


def _aim(org: Org, path: str, target_owner: str) -> str:
    """Fill path parameters so the call aims at ``target_owner``'s data."""
    # the collector's /v1/* routes have no record in their path
    object_name = (path.split("/")[3] if path.startswith("/api/v1/") and not path.startswith("/api/v1/{")
                   else "contacts")
    if object_name not in org.records:
        object_name = "contacts"
    values = {
        "object_name": "contacts",
        "record_id": str(org.records[object_name][target_owner] if object_name in org.records
                         else org.records["contacts"][target_owner]),
        "user_id": str(org.users[target_owner]),
        "role": "sales_rep",
        "field_id": "1",
        "session_id": "1",
        "token_id": "1",
        "request_id": "1",
        "alert_id": "1",
        "pipeline_id": "1",
        "lead_id": str(org.records["leads"][target_owner]),
        "source_id": "1",
        "dead_letter_id": "1",
        "profile_id": "1",
        "merge_id": "1",
        "review_id": "1",
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"teach the route walker how to aim path parameter {{{name}}} ({path})")
        return values[name]

    return re.sub(r"{(\w+)}", fill, path)


def _body(org: Org, method: str, path: str) -> dict[str, Any] | None:
    if method in ("GET", "DELETE"):
        return None
    generic = re.fullmatch(r"/api/v1/(\w+)", path)
    if generic and generic.group(1) in org.records:
        return {"last_name": "Walker", "name": "Walker", "subject": "Walker", "title": "Walker",
                "type": "note"}
    if path.endswith("/reveal"):
        return {"fields": ["phone", "email", "custom.national_id"]}
    return {}


def _markers_of(org: Org, owner: str) -> list[str]:
    planted = org.planted[owner]
    return [planted["last_name"], planted["phone"], planted["email"], planted["national_id"],
            planted["allergy"]]


def _call(client: TestClient, method: str, url: str, body: dict[str, Any] | None) -> Any:
    if body is None:
        return client.request(method, url)
    return client.request(method, url, json=body)


def test_every_route_needs_credentials(app: FastAPI, org: Org) -> None:
    with TestClient(app, raise_server_exceptions=False) as anonymous:
        for method, path in _routes(app):
            answer = _call(anonymous, method, _aim(org, path, "rep_a"), _body(org, method, path))
            assert answer.status_code == 401, f"{method} {path} answered {answer.status_code}"


def test_a_user_without_roles_gets_nothing_from_any_route(
    app: FastAPI, org: Org, as_user: Callable[[str], TestClient]
) -> None:
    nobody = as_user("nobody")
    markers = [m for owner in org.planted for m in _markers_of(org, owner)]
    for method, path in _routes(app):
        answer = _call(nobody, method, _aim(org, path, "rep_a"), _body(org, method, path))
        assert answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text[:200]}"
        if (method, path) not in SELF_SERVICE:
            assert not 200 <= answer.status_code < 300, (
                f"{method} {path} let a user without roles through ({answer.status_code}): "
                "enforce access in the service layer or list it as self-service")
        leaked = [m for m in markers if m in answer.text]
        assert not leaked, f"{method} {path} leaked {leaked}"


def test_a_rep_aimed_at_another_reps_records_sees_none_of_their_data(
    app: FastAPI, org: Org, as_user: Callable[[str], TestClient]
) -> None:
    rep = as_user("rep_a")
    theirs = _markers_of(org, "rep_d")
    mine_sensitive = [org.planted["rep_a"][k] for k in ("phone", "email", "national_id", "allergy")]
    for method, path in _routes(app):
        if method != "GET":
            continue
        answer = rep.get(_aim(org, path, "rep_d"))
        assert answer.status_code < 500, f"GET {path}: {answer.status_code}"
        leaked = [m for m in theirs + mine_sensitive if m in answer.text]
        assert not leaked, f"GET {path} showed {leaked}"


def test_a_rep_cannot_change_another_reps_records_through_any_route(
    app: FastAPI, org: Org, as_user: Callable[[str], TestClient]
) -> None:
    rep = as_user("rep_a")
    integration = as_user("integration")
    before = integration.get(f"/api/v1/contacts/{org.records['contacts']['rep_d']}").json()
    for method, path in _routes(app):
        if method == "GET" or "{" not in path or path.startswith("/api/v1/me"):
            continue
        answer = _call(rep, method, _aim(org, path, "rep_d"), _body(org, method, path))
        assert answer.status_code < 500, f"{method} {path}: {answer.status_code}"
        if "{record_id}" in path or "{lead_id}" in path:
            assert not 200 <= answer.status_code < 300, f"{method} {path} reached rep_d's record"
    after = integration.get(f"/api/v1/contacts/{org.records['contacts']['rep_d']}").json()
    assert after == before
