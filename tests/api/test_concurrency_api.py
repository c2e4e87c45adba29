"""Optimistic concurrency: the version read (ETag / If-Match or ``version``) guards writes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def contact(client: TestClient, rep_client: TestClient) -> dict[str, Any]:
    rep_id = rep_client.get("/api/v1/me").json()["user_id"]  # the rep may edit their own
    answer = client.post("/api/v1/contacts", json={"first_name": "Tomás", "last_name": "Reyes",
                                                   "owner_id": rep_id})
    assert answer.status_code == 201
    return answer.json()  # type: ignore[no-any-return]


def test_reads_carry_the_version_as_an_etag(client: TestClient, contact: dict[str, Any]) -> None:
    read = client.get(f"/api/v1/contacts/{contact['id']}")
    assert read.headers["etag"] == '"1"'
    updated = client.patch(f"/api/v1/contacts/{contact['id']}", json={"job_title": "Buyer"},
                           headers={"If-Match": read.headers["etag"]})
    assert updated.status_code == 200
    assert updated.headers["etag"] == '"2"'
    assert updated.json()["version"] == 2


def test_two_editors_of_one_version_cannot_both_win(
    client: TestClient, rep_client: TestClient, contact: dict[str, Any]
) -> None:
    # given two people who read version 1
    etag = client.get(f"/api/v1/contacts/{contact['id']}").headers["etag"]

    # when both write, each with the version they read
    first = client.patch(f"/api/v1/contacts/{contact['id']}", json={"job_title": "Buyer"},
                         headers={"If-Match": etag})
    second = rep_client.patch(f"/api/v1/contacts/{contact['id']}",
                              json={"job_title": "Engineer"}, headers={"If-Match": etag})

    # then the second is told to reload, and the first write is not lost
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["code"] == "version_conflict"
    assert client.get(f"/api/v1/contacts/{contact['id']}").json()["job_title"] == "Buyer"


def test_the_version_may_travel_in_the_body(client: TestClient, contact: dict[str, Any]) -> None:
    ok = client.patch(f"/api/v1/contacts/{contact['id']}", json={"city": "Porto", "version": 1})
    assert ok.status_code == 200
    stale = client.patch(f"/api/v1/contacts/{contact['id']}", json={"city": "Lisbon", "version": 1})
    assert stale.status_code == 409
    assert client.get(f"/api/v1/contacts/{contact['id']}").json()["city"] == "Porto"


def test_if_match_forms(client: TestClient, contact: dict[str, Any]) -> None:
    url = f"/api/v1/contacts/{contact['id']}"
    assert client.patch(url, json={"city": "A"}, headers={"If-Match": 'W/"1"'}).status_code == 200
    assert client.patch(url, json={"city": "B"}, headers={"If-Match": "2"}).status_code == 200
    assert client.patch(url, json={"city": "C"}, headers={"If-Match": "*"}).status_code == 200
    assert client.patch(url, json={"city": "D"}, headers={"If-Match": '"v3"'}).status_code == 422
    assert client.get(url).json()["version"] == 4


def test_a_stale_delete_is_refused(client: TestClient, contact: dict[str, Any]) -> None:
    url = f"/api/v1/contacts/{contact['id']}"
    client.patch(url, json={"city": "Porto"})
    stale = client.delete(url, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    assert client.get(url).status_code == 200
    assert client.delete(url, headers={"If-Match": '"2"'}).status_code == 204


def test_a_stale_version_inside_a_bulk_call_refuses_the_batch(
    client: TestClient, contact: dict[str, Any]
) -> None:
    other = client.post("/api/v1/contacts", json={"last_name": "Ogawa"}).json()
    client.patch(f"/api/v1/contacts/{contact['id']}", json={"city": "Porto"})
    answer = client.post("/api/v1/contacts/bulk", json={"records": [
        {"id": other["id"], "city": "Kyoto", "version": 1},
        {"id": contact["id"], "city": "Lisbon", "version": 1},
    ]})
    assert answer.status_code == 409
    assert client.get(f"/api/v1/contacts/{other['id']}").json()["city"] is None
