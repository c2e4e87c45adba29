"""Custom objects: declared by administrators, their records served like built-in ones."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def machines(client: TestClient) -> str:
    """A custom object 'machine' with a required serial number and an install date."""
    answer = client.post("/api/v1/custom-objects", json={
        "name": "machine", "label": "Machine", "label_plural": "Machines",
        "description": "Installed equipment at customer sites"})
    assert answer.status_code == 201, answer.text
    for field in (
        {"name": "serial", "label": "Serial", "field_type": "text", "required": True},
        {"name": "installed_on", "label": "Installed on", "field_type": "date"},
        {"name": "site", "label": "Site", "field_type": "reference", "reference_object": "accounts"},
    ):
        created = client.post("/api/v1/custom-fields", json={"object_type": "machine", **field})
        assert created.status_code == 201, created.text
    return "/api/v1/custom-objects/machine/records"


def create(client: TestClient, url: str, **body: Any) -> dict[str, Any]:
    answer = client.post(url, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_declaring_a_custom_object(client: TestClient, rep_client: TestClient) -> None:
    body = {"name": "machine", "label": "Machine"}
    assert rep_client.post("/api/v1/custom-objects", json=body).status_code == 403
    created = client.post("/api/v1/custom-objects", json=body)
    assert created.status_code == 201
    assert created.json()["name"] == "machine"
    assert client.post("/api/v1/custom-objects", json=body).status_code == 409
    assert client.post("/api/v1/custom-objects",
                       json={"name": "contacts", "label": "Shadow"}).status_code == 409
    assert client.post("/api/v1/custom-objects",
                       json={"name": "Big Machine", "label": "X"}).status_code == 422
    listed = client.get("/api/v1/custom-objects").json()["items"]
    assert [o["name"] for o in listed] == ["machine"]
    objects = client.get("/api/v1/schema").json()["objects"]
    assert {"name": "machine", "label": "Machine", "custom": True} in objects


def test_custom_object_types_are_not_writable_through_the_generic_routes(
    rep_client: TestClient,
) -> None:
    # schema changes go through /custom-objects, which only administrators may call
    answer = rep_client.post("/api/v1/custom_object_types", json={"name": "contacts", "label": "X"})
    assert answer.status_code in (404, 405)


def test_custom_records_round_trip(client: TestClient, machines: str) -> None:
    # given an account and a machine installed there
    site = client.post("/api/v1/accounts", json={"name": "Example Foods"}).json()
    press = create(client, machines, name="Press 1",
                   custom={"serial": "SN-001", "installed_on": "2025-05-01", "site": site["id"]})

    # then it reads back with its custom values and version 1
    read = client.get(f"{machines}/{press['id']}")
    assert read.status_code == 200
    assert read.json()["custom"] == {"serial": "SN-001", "installed_on": "2025-05-01",
                                     "site": site["id"]}
    assert read.json()["version"] == 1

    # when it is updated with the version read
    updated = client.patch(f"{machines}/{press['id']}",
                           json={"custom": {"serial": "SN-002"}, "version": 1})
    assert updated.status_code == 200, updated.text
    assert updated.json()["custom"]["serial"] == "SN-002"
    assert updated.json()["custom"]["installed_on"] == "2025-05-01"

    # then a stale version is refused
    stale = client.patch(f"{machines}/{press['id']}", json={"name": "Press A", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict"

    # and deleting it makes it disappear
    assert client.delete(f"{machines}/{press['id']}").status_code == 204
    assert client.get(f"{machines}/{press['id']}").status_code == 404


def test_custom_record_fields_are_validated(client: TestClient, machines: str) -> None:
    missing = client.post(machines, json={"name": "Press 1"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "custom.serial"
    dangling = client.post(machines, json={"name": "Press 1",
                                           "custom": {"serial": "S", "site": 424242}})
    assert dangling.status_code == 422
    assert dangling.json()["errors"][0]["code"] == "dangling_reference"
    unknown = client.post(machines, json={"name": "Press 1", "colour": "red",
                                          "custom": {"serial": "S"}})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "colour"
    mass = client.post(machines, json={"name": "Press 1", "object_type_id": 99,
                                       "custom": {"serial": "S"}})
    assert mass.status_code == 422


def test_custom_records_list_with_filters_sort_and_search(
    client: TestClient, machines: str
) -> None:
    for i, day in enumerate(["2024-01-15", "2025-06-01", "2023-03-20"], start=1):
        create(client, machines, name=f"Lathe {i}",
               custom={"serial": f"SN-{i}", "installed_on": day})

    recent = client.get(machines, params={"filter": "installed_on:gt:2024-01-01",
                                          "sort": "-installed_on"})
    assert recent.status_code == 200
    assert [m["name"] for m in recent.json()["items"]] == ["Lathe 2", "Lathe 1"]
    assert recent.json()["count"] == 2

    found = client.get(machines, params={"q": "lathe"}).json()
    assert found["count"] == 3


def test_records_of_one_custom_object_are_not_visible_through_another(
    client: TestClient, machines: str
) -> None:
    client.post("/api/v1/custom-objects", json={"name": "site_visit", "label": "Site visit"})
    press = create(client, machines, name="Press 1", custom={"serial": "SN-1"})
    other = f"/api/v1/custom-objects/site_visit/records/{press['id']}"
    assert client.get(other).status_code == 404
    assert client.patch(other, json={"name": "Hijack"}).status_code == 404
    assert client.delete(other).status_code == 404
    assert client.get(f"{machines}/{press['id']}").json()["name"] == "Press 1"
    assert client.get("/api/v1/custom-objects/site_visit/records").json()["count"] == 0


def test_an_unknown_custom_object_is_a_404(client: TestClient) -> None:
    assert client.get("/api/v1/custom-objects/spaceship/records").status_code == 404
    assert client.post("/api/v1/custom-objects/spaceship/records",
                       json={"name": "X"}).status_code == 404
    assert client.get("/api/v1/schema/spaceship").status_code == 404


def test_built_in_records_can_reference_custom_records(client: TestClient, machines: str) -> None:
    client.post("/api/v1/custom-fields", json={
        "object_type": "tickets", "name": "machine", "label": "Machine",
        "field_type": "reference", "reference_object": "machine"})
    press = create(client, machines, name="Press 1", custom={"serial": "SN-1"})
    ticket = client.post("/api/v1/tickets",
                         json={"subject": "Press jams", "custom": {"machine": press["id"]}})
    assert ticket.status_code == 201, ticket.text
    dangling = client.post("/api/v1/tickets",
                           json={"subject": "Press jams", "custom": {"machine": 987654}})
    assert dangling.status_code == 422
    assert dangling.json()["errors"] == [{
        "field": "custom.machine", "message": "no machine with id 987654",
        "code": "dangling_reference"}]


def test_the_schema_of_a_custom_object(client: TestClient, machines: str) -> None:
    schema = client.get("/api/v1/schema/machine").json()
    assert schema["title"] == "Machine"
    assert schema["required"] == ["name"]
    assert schema["properties"]["custom"]["required"] == ["serial"]
    assert schema["properties"]["custom"]["properties"]["installed_on"]["format"] == "date"


def test_custom_record_creation_honours_idempotency_keys(client: TestClient, machines: str) -> None:
    headers = {"Idempotency-Key": "machine-import-1"}
    body = {"name": "Press 1", "custom": {"serial": "SN-1"}}
    first = client.post(machines, json=body, headers=headers)
    second = client.post(machines, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert client.get(machines).json()["count"] == 1
