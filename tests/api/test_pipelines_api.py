"""Pipelines and stages: variants of a baseline, stage rules, the board, guarded deletes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def post(client: TestClient, url: str, **body: Any) -> dict[str, Any]:
    answer = client.post(url, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_regional_variant_points_at_its_baseline(
    client: TestClient, sales_pipeline: dict[str, int]
) -> None:
    # given a regional pipeline derived from the baseline, its stage mapped to a baseline stage
    east = post(client, "/api/v1/pipelines", name="Sales East China",
                baseline_pipeline_id=sales_pipeline["pipeline"])
    tender = post(client, "/api/v1/pipeline_stages", pipeline_id=east["id"], name="Tender",
                  position=1, probability=20, baseline_stage_id=sales_pipeline["qualify"])

    # then both links are stored and readable
    assert client.get(f"/api/v1/pipelines/{east['id']}").json()["baseline_pipeline_id"] == (
        sales_pipeline["pipeline"])
    assert tender["baseline_stage_id"] == sales_pipeline["qualify"]
    variants = client.get("/api/v1/pipelines", params={
        "filter": f"baseline_pipeline_id:eq:{sales_pipeline['pipeline']}"}).json()
    assert [p["name"] for p in variants["items"]] == ["Sales East China"]
    board = client.get(f"/api/v1/pipelines/{east['id']}/board").json()
    assert board["pipeline"]["baseline_pipeline_id"] == sales_pipeline["pipeline"]


def test_a_variant_must_point_at_existing_records(client: TestClient) -> None:
    answer = client.post("/api/v1/pipelines", json={"name": "Orphan", "baseline_pipeline_id": 424242})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "baseline_pipeline_id"
    pipeline = post(client, "/api/v1/pipelines", name="Service")
    stage = client.post("/api/v1/pipeline_stages", json={
        "pipeline_id": pipeline["id"], "name": "Triage", "position": 1,
        "baseline_stage_id": 424242})
    assert stage.status_code == 422
    assert stage.json()["errors"][0]["field"] == "baseline_stage_id"


def test_stage_rules_set_probability_and_status(
    client: TestClient, sales_pipeline: dict[str, int]
) -> None:
    opportunity = post(client, "/api/v1/opportunities", name="Line 4 retrofit", amount="80000.00")
    assert (opportunity["stage_id"], opportunity["probability"], opportunity["status"]) == (
        sales_pipeline["qualify"], 10, "open")
    won = client.patch(f"/api/v1/opportunities/{opportunity['id']}",
                       json={"stage_id": sales_pipeline["won"]})
    assert won.status_code == 200, won.text
    assert (won.json()["probability"], won.json()["status"]) == (100, "won")
    # the status follows the stage; clients cannot set it
    refused = client.patch(f"/api/v1/opportunities/{opportunity['id']}", json={"status": "lost"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "status"


def test_a_stage_of_another_pipeline_is_refused(
    client: TestClient, sales_pipeline: dict[str, int]
) -> None:
    other = post(client, "/api/v1/pipelines", name="Service")
    foreign = post(client, "/api/v1/pipeline_stages", pipeline_id=other["id"], name="Triage",
                   position=1)
    answer = client.post("/api/v1/opportunities", json={
        "name": "Mixed up", "pipeline_id": sales_pipeline["pipeline"], "stage_id": foreign["id"]})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "stage_id"


def test_deleting_a_stage_or_pipeline_in_use_is_a_409(
    client: TestClient, sales_pipeline: dict[str, int]
) -> None:
    # given an opportunity in the first stage
    opportunity = post(client, "/api/v1/opportunities", name="Line 4 retrofit")

    # when the stage or its pipeline is deleted, then both are refused
    stage = client.delete(f"/api/v1/pipeline_stages/{sales_pipeline['qualify']}")
    assert stage.status_code == 409
    assert stage.json()["code"] == "conflict"
    assert "move them first" in stage.json()["detail"]
    assert client.delete(f"/api/v1/pipelines/{sales_pipeline['pipeline']}").status_code == 409
    assert client.get(f"/api/v1/pipeline_stages/{sales_pipeline['qualify']}").status_code == 200

    # and once the opportunity has moved on, the stage can go
    client.patch(f"/api/v1/opportunities/{opportunity['id']}",
                 json={"stage_id": sales_pipeline["won"]})
    assert client.delete(f"/api/v1/pipeline_stages/{sales_pipeline['qualify']}").status_code == 204


def test_the_board_groups_opportunities_by_stage_with_totals(
    client: TestClient, sales_pipeline: dict[str, int]
) -> None:
    for name, amount in (("Small", "1000.00"), ("Large", "9000.00")):
        post(client, "/api/v1/opportunities", name=name, amount=amount)
    post(client, "/api/v1/opportunities", name="Signed", amount="5000.00",
         stage_id=sales_pipeline["won"])

    board = client.get(f"/api/v1/pipelines/{sales_pipeline['pipeline']}/board")
    assert board.status_code == 200
    stages = {s["name"]: s for s in board.json()["stages"]}
    assert [s["name"] for s in board.json()["stages"]] == ["Qualify", "Proposal", "Won"]
    assert (stages["Qualify"]["count"], stages["Qualify"]["amount"],
            stages["Qualify"]["weighted_amount"]) == (2, "10000.00", "1000.00")
    assert [c["name"] for c in stages["Qualify"]["cards"]] == ["Large", "Small"]
    assert stages["Proposal"]["count"] == 0
    assert stages["Won"]["weighted_amount"] == "5000.00"
    assert client.get("/api/v1/pipelines/424242/board").status_code == 404
