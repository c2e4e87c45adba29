"""Configuration changes and exports leave audit entries (and the chain stays intact)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from rapport.bootstrap import Container
from rapport.trust import audit


def newest(container: Container, action: str) -> list[audit.Entry]:
    with container.session_factory() as session:
        entries, _ = audit.list_entries(session, audit.AuditFilter(action=action), limit=10)
    return entries


def test_declaring_and_removing_a_custom_field_is_audited(client: TestClient,
                                                          container: Container) -> None:
    created = client.post("/api/v1/custom-fields", json={
        "object_type": "contacts", "name": "loyalty_tier", "label": "Loyalty tier",
        "field_type": "enum", "options": ["bronze", "gold"]})
    assert created.status_code == 201, created.text
    removed = client.delete(f"/api/v1/custom-fields/{created.json()['id']}")
    assert removed.status_code == 204

    deleted, declared = newest(container, "config_changed")[:2]

    target = f"custom_field_definitions:{created.json()['id']}"
    assert declared.target == target
    assert declared.details == {"object": "custom_field_definitions", "object_type": "contacts",
                                "field": "loyalty_tier", "change": "created",
                                "field_type": "enum", "required": False}
    assert deleted.target == target
    assert deleted.details["change"] == "deleted"
    assert declared.actor.startswith("user:")
    with container.session_factory() as session:
        assert audit.verify(session, container.settings.secret_key).ok


def test_declaring_a_custom_object_is_audited(client: TestClient, container: Container) -> None:
    answer = client.post("/api/v1/custom-objects", json={"name": "site_visit",
                                                         "label": "Site visit"})
    assert answer.status_code == 201, answer.text

    [entry] = newest(container, "config_changed")

    assert entry.details == {"object": "custom_object_types", "name": "site_visit",
                             "change": "created"}


def test_a_refused_change_leaves_no_entry(rep_client: TestClient, container: Container) -> None:
    body: dict[str, Any] = {"object_type": "contacts", "name": "x", "label": "X",
                            "field_type": "text"}

    assert rep_client.post("/api/v1/custom-fields", json=body).status_code == 403
    assert newest(container, "config_changed") == []


def test_a_record_export_over_the_api_is_audited(client: TestClient, container: Container) -> None:
    client.post("/api/v1/accounts", json={"name": "Example Optics"})

    answer = client.get("/api/v1/accounts/export")

    assert answer.status_code == 200
    [entry] = newest(container, "export")
    assert entry.details["object"] == "accounts"
    assert entry.details["count"] == 1
