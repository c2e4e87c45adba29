"""A lead's consent travels with the person when the lead becomes a contact."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _states(client: TestClient, subject: str) -> dict[str, tuple[str, bool]]:
    current = client.get("/api/v1/consents/current", params={"subject": subject}).json()
    return {p["purpose"]: (p["state"], p["valid"]) for p in current["purposes"]}


def test_converting_a_lead_carries_its_decisions_over_to_the_new_contact(
    client: TestClient,
) -> None:
    # given a lead who granted marketing e-mail, withdrew SMS and had a grant that expired
    lead = client.post("/api/v1/leads", json={"last_name": "Hopper", "company": "Navy",
                                              "email": "grace@example.com"}).json()
    subject = f"leads:{lead['id']}"
    for purpose, status, extra in (
        ("marketing_email", "granted", {"expires_at": "2099-01-01T00:00:00+00:00"}),
        ("sms", "granted", {}), ("sms", "withdrawn", {}),
    ):
        answer = client.post("/api/v1/consents", json={
            "subject": subject, "purpose": purpose, "status": status, "lawful_basis": "consent",
            "source": "trade_show_form", **extra})
        assert answer.status_code == 201, answer.text

    # when the lead is converted
    converted = client.post(f"/api/v1/leads/{lead['id']}/convert", json={"create_opportunity": False})
    assert converted.status_code == 200, converted.text
    contact = f"contacts:{converted.json()['contact_id']}"

    # then the contact holds the same decisions in force, citing where they came from
    assert _states(client, contact)["marketing_email"] == ("granted", True)
    assert _states(client, contact)["sms"] == ("withdrawn", False)
    assert _states(client, contact)["profiling"] == ("none", False)
    history = client.get("/api/v1/consents", params={"subject": contact}).json()["items"]
    assert {h["source"] for h in history} == {"lead_conversion:trade_show_form"}
    assert all(f"carried over from {subject}" in h["evidence"] for h in history)
    granted = next(h for h in history if h["purpose"] == "marketing_email")
    assert granted["expires_at"].startswith("2099-01-01")
