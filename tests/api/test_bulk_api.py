"""Bulk writes: up to 1,000 records per call, all or nothing, with errors per record."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_thousand_records_are_created_in_one_call(client: TestClient) -> None:
    records = [{"last_name": f"Sample{i:04d}", "email": f"sample{i:04d}@example.com"}
               for i in range(1000)]
    answer = client.post("/api/v1/contacts/bulk", json={"records": records})
    assert answer.status_code == 200, answer.text[:500]
    created = answer.json()["created"]
    assert len(created) == len(set(created)) == 1000
    assert answer.json()["updated"] == []
    # ids come back in the order the records were sent
    first, last = (client.get(f"/api/v1/contacts/{created[i]}").json() for i in (0, -1))
    assert (first["last_name"], last["last_name"]) == ("Sample0000", "Sample0999")


def test_a_thousand_records_are_updated_in_one_call(client: TestClient) -> None:
    created = client.post("/api/v1/accounts/bulk", json={
        "records": [{"name": f"Example {i}"} for i in range(1000)]}).json()["created"]
    answer = client.post("/api/v1/accounts/bulk", json={
        "records": [{"id": rid, "tier": "B"} for rid in created]})
    assert answer.status_code == 200, answer.text[:500]
    assert sorted(answer.json()["updated"]) == sorted(created)
    tier_b = client.get("/api/v1/accounts", params={"filter": "tier:eq:B", "limit": 1}).json()
    assert tier_b["count"] == 1000


def test_a_thousand_and_one_records_are_refused(client: TestClient) -> None:
    records = [{"last_name": f"Sample{i}"} for i in range(1001)]
    answer = client.post("/api/v1/contacts/bulk", json={"records": records})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "records"
    assert client.get("/api/v1/contacts").json()["count"] == 0


def test_creates_and_updates_mix_in_one_call(client: TestClient) -> None:
    existing = client.post("/api/v1/contacts", json={"last_name": "Okafor"}).json()
    answer = client.post("/api/v1/contacts/bulk", json={"records": [
        {"id": existing["id"], "job_title": "Buyer"},
        {"last_name": "Nakamura"},
    ]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["updated"] == [existing["id"]]
    assert len(answer.json()["created"]) == 1
    assert client.get(f"/api/v1/contacts/{existing['id']}").json()["job_title"] == "Buyer"


def test_one_bad_record_refuses_the_whole_batch_and_names_it(client: TestClient) -> None:
    existing = client.post("/api/v1/contacts", json={"last_name": "Okafor"}).json()
    answer = client.post("/api/v1/contacts/bulk", json={"records": [
        {"last_name": "Good"},
        {"last_name": "Bad", "email": "not-an-email"},
        {"id": existing["id"], "job_title": "Buyer"},
        {"first_name": "No last name"},
    ]})
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["records[1].email", "records[3].last_name"]
    assert client.get("/api/v1/contacts").json()["count"] == 1
    assert client.get(f"/api/v1/contacts/{existing['id']}").json()["job_title"] is None


def test_unknown_or_impossible_ids_inside_a_batch_are_reported_per_record(
    client: TestClient,
) -> None:
    # given one existing contact
    existing = client.post("/api/v1/contacts", json={"last_name": "Okafor"}).json()

    # when a batch also carries a guessed id and one beyond the 64-bit range
    answer = client.post("/api/v1/contacts/bulk", json={"records": [
        {"id": existing["id"], "job_title": "Buyer"},
        {"id": 424242, "job_title": "Ghost"},
        {"id": 2**63, "job_title": "Overflow"},
    ]})

    # then both are reported as not found, and the valid update is not applied either
    assert answer.status_code == 422, answer.text
    assert {e["field"]: e["code"] for e in answer.json()["errors"]} == {
        "records[1].id": "not_found", "records[2].id": "not_found"}
    assert client.get(f"/api/v1/contacts/{existing['id']}").json()["job_title"] is None


def test_an_id_that_is_not_an_integer_is_refused(client: TestClient) -> None:
    answer = client.post("/api/v1/contacts/bulk", json={"records": [
        {"id": "7", "job_title": "Text id"}, {"id": True, "job_title": "Boolean id"}]})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["records[0].id", "records[1].id"]


def test_upsert_on_an_external_id_updates_instead_of_duplicating(client: TestClient) -> None:
    body = {"records": [{"external_id": "crm-legacy-17", "name": "Example Trading"}],
            "upsert_on": "external_id"}
    first = client.post("/api/v1/accounts/bulk", json=body)
    assert first.status_code == 200
    body["records"][0]["name"] = "Example Trading Ltd"
    second = client.post("/api/v1/accounts/bulk", json=body)
    assert second.status_code == 200
    assert second.json() == {"created": [], "updated": first.json()["created"]}
    listing = client.get("/api/v1/accounts").json()
    assert listing["count"] == 1
    assert listing["items"][0]["name"] == "Example Trading Ltd"


def test_upsert_on_must_name_a_field(client: TestClient) -> None:
    for key in ("externalid", "custom", "participants"):
        answer = client.post("/api/v1/activities/bulk" if key == "participants"
                             else "/api/v1/accounts/bulk",
                             json={"records": [], "upsert_on": key})
        assert answer.status_code == 422, key
        assert answer.json()["errors"][0]["field"] == "upsert_on"


def test_an_upsert_key_of_the_wrong_type_is_a_field_error_not_a_crash(client: TestClient) -> None:
    answer = client.post("/api/v1/accounts/bulk", json={
        "records": [{"external_id": ["a", "list"], "name": "Example"}], "upsert_on": "external_id"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "external_id"


def test_the_same_unique_value_twice_in_one_batch_is_a_conflict(client: TestClient) -> None:
    answer = client.post("/api/v1/products/bulk", json={"records": [
        {"sku": "EX-100", "name": "Valve"}, {"sku": "EX-100", "name": "Valve again"}]})
    assert answer.status_code == 409
    assert client.get("/api/v1/products").json()["count"] == 0


def test_an_empty_batch_is_a_no_op(client: TestClient) -> None:
    answer = client.post("/api/v1/contacts/bulk", json={"records": []})
    assert answer.status_code == 200
    assert answer.json() == {"created": [], "updated": []}


def test_upsert_keys_match_in_their_normalised_form(client: TestClient) -> None:
    # given a contact stored with a normalised email
    first = client.post("/api/v1/contacts/bulk", json={
        "records": [{"last_name": "Lima", "email": "ana.lima@example.com"}], "upsert_on": "email"})
    # when the same person arrives with look-alike spelling
    again = client.post("/api/v1/contacts/bulk", json={
        "records": [{"last_name": "Lima", "job_title": "CFO", "email": " Ana.Lima＠Example.com"}],
        "upsert_on": "email"})
    # then the existing contact is updated, not duplicated
    assert again.json() == {"created": [], "updated": first.json()["created"]}
    assert client.get("/api/v1/contacts").json()["count"] == 1
