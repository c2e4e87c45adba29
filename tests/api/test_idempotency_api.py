"""Idempotency-Key: a retried write replays its first answer; a reused key is a conflict."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_retry_replays_the_first_answer_without_a_duplicate(client: TestClient) -> None:
    headers = {"Idempotency-Key": "order-2026-0001"}
    body = {"name": "Example Mills", "tier": "B"}
    first = client.post("/api/v1/accounts", json=body, headers=headers)
    retry = client.post("/api/v1/accounts", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert client.get("/api/v1/accounts").json()["count"] == 1


def test_reusing_a_key_with_a_different_body_is_a_409(client: TestClient) -> None:
    headers = {"Idempotency-Key": "order-2026-0002"}
    assert client.post("/api/v1/accounts", json={"name": "Example Mills"},
                       headers=headers).status_code == 201
    different = client.post("/api/v1/accounts", json={"name": "Example Mills Ltd"},
                            headers=headers)
    assert different.status_code == 409
    assert different.json()["code"] == "conflict"
    other_endpoint = client.post("/api/v1/contacts", json={"last_name": "Mills"}, headers=headers)
    assert other_endpoint.status_code == 409
    assert client.get("/api/v1/accounts").json()["count"] == 1
    assert client.get("/api/v1/contacts").json()["count"] == 0


def test_keys_belong_to_the_user_who_sent_them(client: TestClient, rep_client: TestClient) -> None:
    headers = {"Idempotency-Key": "shared-looking-key"}
    mine = client.post("/api/v1/accounts", json={"name": "Example Mills"}, headers=headers)
    theirs = rep_client.post("/api/v1/accounts", json={"name": "Example Mills"}, headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_refused_request_does_not_burn_its_key(client: TestClient) -> None:
    headers = {"Idempotency-Key": "order-2026-0003"}
    refused = client.post("/api/v1/accounts", json={"name": "Example Mills", "tier": "Z"},
                          headers=headers)
    assert refused.status_code == 422
    fixed = client.post("/api/v1/accounts", json={"name": "Example Mills", "tier": "A"},
                        headers=headers)
    assert fixed.status_code == 201
    assert client.get("/api/v1/accounts").json()["count"] == 1


def test_bulk_writes_replay_too(client: TestClient) -> None:
    headers = {"Idempotency-Key": "import-batch-7"}
    body = {"records": [{"last_name": f"Batch{i}"} for i in range(3)]}
    first = client.post("/api/v1/contacts/bulk", json=body, headers=headers)
    retry = client.post("/api/v1/contacts/bulk", json=body, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert client.get("/api/v1/contacts").json()["count"] == 3


def test_a_key_must_be_between_1_and_200_characters(client: TestClient) -> None:
    for key in ("", "k" * 201):
        answer = client.post("/api/v1/accounts", json={"name": "Example Mills"},
                             headers={"Idempotency-Key": key})
        assert answer.status_code == 422, repr(key)
    assert client.get("/api/v1/accounts").json()["count"] == 0
