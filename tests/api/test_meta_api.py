"""Who am I, which objects exist, and is the service up."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_me_describes_the_token_holder(client: TestClient, rep_client: TestClient) -> None:
    admin = client.get("/api/v1/me").json()
    rep = rep_client.get("/api/v1/me").json()
    assert (admin["email"], admin["is_admin"]) == ("admin@example.com", True)
    assert (rep["email"], rep["is_admin"]) == ("rep@example.com", False)
    assert admin["user_id"] != rep["user_id"]
    assert "password_hash" not in admin


def test_the_schema_lists_every_object(client: TestClient) -> None:
    objects = {o["name"]: o for o in client.get("/api/v1/schema").json()["objects"]}
    assert {"accounts", "contacts", "leads", "opportunities", "quotes"} <= set(objects)
    assert objects["contacts"] == {"name": "contacts", "label": "Contacts", "custom": False}


def test_every_object_publishes_a_json_schema(client: TestClient) -> None:
    for name in client.get("/api/v1/schema").json()["objects"]:
        answer = client.get(f"/api/v1/schema/{name['name']}")
        assert answer.status_code == 200, name
        assert answer.json()["type"] == "object"


def test_health_needs_no_token(client: TestClient) -> None:
    answer = client.get("/healthz", headers={"Authorization": ""})
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_the_api_refuses_anonymous_callers(client: TestClient) -> None:
    answer = client.get("/api/v1/me", headers={"Authorization": ""})
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthenticated"
