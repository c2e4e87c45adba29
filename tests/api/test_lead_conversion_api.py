"""Lead conversion: contact + account + opportunity in one transaction, or nothing at all."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def counts(client: TestClient) -> dict[str, int]:
    return {name: client.get(f"/api/v1/{name}").json()["count"]
            for name in ("accounts", "contacts", "opportunities")}


@pytest.fixture
def lead(client: TestClient) -> dict[str, Any]:
    answer = client.post("/api/v1/leads", json={
        "first_name": "Mei", "last_name": "Chen", "company": "Example Robotics",
        "email": "mei.chen@example.com", "phone": "+86 138 0013 8000", "job_title": "CTO",
        "business_line": "industrial_automation", "source": "trade_show"})
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_conversion_creates_contact_account_and_opportunity(
    client: TestClient, sales_pipeline: dict[str, int], lead: dict[str, Any]
) -> None:
    # when the lead is converted with an amount
    answer = client.post(f"/api/v1/leads/{lead['id']}/convert", json={"amount": "48000.00"})

    # then one of each record exists, linked together and carrying the lead's data
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert counts(client) == {"accounts": 1, "contacts": 1, "opportunities": 1}
    account = client.get(f"/api/v1/accounts/{result['account_id']}").json()
    contact = client.get(f"/api/v1/contacts/{result['contact_id']}").json()
    opportunity = client.get(f"/api/v1/opportunities/{result['opportunity_id']}").json()
    assert account["name"] == "Example Robotics"
    assert account["business_line"] == "industrial_automation"
    assert (contact["first_name"], contact["last_name"], contact["email"], contact["phone"],
            contact["job_title"]) == ("Mei", "Chen", "mei.chen@example.com", "+8613800138000", "CTO")
    assert contact["account_id"] == account["id"]
    assert opportunity["account_id"] == account["id"]
    assert opportunity["contact_id"] == contact["id"]
    assert opportunity["amount"] == "48000.00"
    assert opportunity["stage_id"] == sales_pipeline["qualify"]

    # and the lead remembers what it became
    converted = client.get(f"/api/v1/leads/{lead['id']}").json()
    assert converted["status"] == "converted"
    assert converted["converted_at"] is not None
    assert (converted["converted_contact_id"], converted["converted_account_id"],
            converted["converted_opportunity_id"]) == (
        result["contact_id"], result["account_id"], result["opportunity_id"])


def test_conversion_can_attach_to_an_existing_account_without_an_opportunity(
    client: TestClient, lead: dict[str, Any]
) -> None:
    account = client.post("/api/v1/accounts", json={"name": "Example Robotics GmbH"}).json()
    answer = client.post(f"/api/v1/leads/{lead['id']}/convert",
                         json={"account_id": account["id"], "create_opportunity": False})
    assert answer.status_code == 200, answer.text
    assert answer.json()["account_id"] == account["id"]
    assert answer.json()["opportunity_id"] is None
    assert counts(client) == {"accounts": 1, "contacts": 1, "opportunities": 0}


def test_a_lead_converts_only_once(
    client: TestClient, sales_pipeline: dict[str, int], lead: dict[str, Any]
) -> None:
    assert client.post(f"/api/v1/leads/{lead['id']}/convert", json={}).status_code == 200
    again = client.post(f"/api/v1/leads/{lead['id']}/convert", json={})
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert counts(client) == {"accounts": 1, "contacts": 1, "opportunities": 1}


def test_a_failing_step_rolls_the_whole_conversion_back(
    client: TestClient, lead: dict[str, Any]
) -> None:
    # given a pipeline whose first stage requires an amount
    pipeline = client.post("/api/v1/pipelines", json={"name": "Key accounts"}).json()
    client.post("/api/v1/pipeline_stages", json={
        "pipeline_id": pipeline["id"], "name": "Scoping", "position": 1,
        "required_fields": ["amount"]})

    # when the conversion reaches the opportunity (after account and contact) without one
    answer = client.post(f"/api/v1/leads/{lead['id']}/convert", json={})

    # then it is refused and neither the account nor the contact survives
    assert answer.status_code == 422
    assert answer.json()["errors"][0] == {
        "field": "amount", "message": "required to enter stage 'Scoping'",
        "code": "required_for_stage"}
    assert counts(client) == {"accounts": 0, "contacts": 0, "opportunities": 0}
    unchanged = client.get(f"/api/v1/leads/{lead['id']}").json()
    assert unchanged["status"] == "new"
    assert unchanged["converted_at"] is None
    assert unchanged["version"] == 1

    # and no change record of the rolled-back records remains on the lead's timeline
    timeline = client.get(f"/api/v1/leads/{lead['id']}/timeline").json()["items"]
    assert [item["action"] for item in timeline] == ["created"]


def test_conversion_refuses_unknown_references(client: TestClient, lead: dict[str, Any]) -> None:
    assert client.post("/api/v1/leads/424242/convert", json={}).status_code == 404
    unknown_account = client.post(f"/api/v1/leads/{lead['id']}/convert",
                                  json={"account_id": 424242})
    assert unknown_account.status_code == 404
    unknown_pipeline = client.post(f"/api/v1/leads/{lead['id']}/convert",
                                   json={"pipeline_id": 424242})
    assert unknown_pipeline.status_code == 422
    assert counts(client) == {"accounts": 0, "contacts": 0, "opportunities": 0}
    assert client.get(f"/api/v1/leads/{lead['id']}").json()["status"] == "new"


def test_conversion_fields_cannot_be_written_by_clients(
    client: TestClient, lead: dict[str, Any]
) -> None:
    for field, value in (("converted_at", "2026-01-01T00:00:00Z"), ("converted_contact_id", 1),
                         ("converted_account_id", 1), ("converted_opportunity_id", 1)):
        answer = client.patch(f"/api/v1/leads/{lead['id']}", json={field: value})
        assert answer.status_code == 422, field
        assert answer.json()["errors"][0]["field"] == field


def test_conversion_is_in_the_leads_history(
    client: TestClient, sales_pipeline: dict[str, int], lead: dict[str, Any]
) -> None:
    # when the lead is converted
    result = client.post(f"/api/v1/leads/{lead['id']}/convert", json={}).json()

    # then its timeline records the conversion fields, old -> new, and its version moved on
    timeline = client.get(f"/api/v1/leads/{lead['id']}/timeline").json()["items"]
    conversion = timeline[0]["changes"]
    assert conversion["status"] == ["new", "converted"]
    assert conversion["converted_contact_id"] == [None, result["contact_id"]]
    assert client.get(f"/api/v1/leads/{lead['id']}").json()["version"] == 2
