"""List counts stop at a cap (``count_cap``) and say so, instead of counting a huge table."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from rapport.config import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The suite's settings with a tiny count cap, so capping shows with a handful of records."""
    return Settings(database_url=database_url, environment="test", count_cap=5)


@pytest.fixture
def twelve_contacts(client: TestClient) -> None:
    records = [{"last_name": f"Lindqvist{i:02d}", "city": "Malmö" if i % 4 == 0 else "Lund"}
               for i in range(12)]
    assert client.post("/api/v1/contacts/bulk", json={"records": records}).status_code == 200


def test_a_count_above_the_cap_is_reported_as_capped(
    client: TestClient, twelve_contacts: None
) -> None:
    page = client.get("/api/v1/contacts", params={"limit": 2}).json()
    assert (page["count"], page["count_capped"]) == (5, True)
    assert len(page["items"]) == 2


def test_a_count_below_the_cap_is_exact(client: TestClient, twelve_contacts: None) -> None:
    page = client.get("/api/v1/contacts", params={"filter": "city:eq:Malmö"}).json()
    assert (page["count"], page["count_capped"]) == (3, False)
    exactly_cap = client.get("/api/v1/contacts", params={
        "filter": "last_name:in:Lindqvist00,Lindqvist01,Lindqvist02,Lindqvist03,Lindqvist04"})
    assert (exactly_cap.json()["count"], exactly_cap.json()["count_capped"]) == (5, False)


def test_search_counts_are_capped_too(client: TestClient, twelve_contacts: None) -> None:
    page = client.get("/api/v1/contacts", params={"q": "Lindqvist"}).json()
    assert (page["count"], page["count_capped"]) == (5, True)
    filtered = client.get("/api/v1/contacts",
                          params={"q": "Lindqvist", "filter": "city:eq:Malmö"}).json()
    assert (filtered["count"], filtered["count_capped"]) == (3, False)
    everywhere = client.get("/api/v1/search", params={"q": "Lindqvist"}).json()
    assert everywhere["results"]["contacts"]["count_capped"] is True


def test_the_cap_does_not_limit_what_can_be_paged_through(
    client: TestClient, twelve_contacts: None
) -> None:
    seen = 0
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/contacts", params=params).json()
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == 12
