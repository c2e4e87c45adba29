"""Listing: filters with every operator, multi-field sort, keyset cursors, capped counts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rapport.bootstrap import Container

ACCOUNTS = [
    # name, tier, annual_revenue, city
    ("Aurora Labs", "A", "1200000.00", "Shanghai"),
    ("Birch & Co", "B", "350000.00", "Hangzhou"),
    ("Cobalt 100% Ltd", "A", None, "Shanghai"),
    ("Delta_Works", None, "350000.00", None),
    ("Ember Systems", "C", "90000.00", "Suzhou"),
    ("Fjord Medical", None, None, "Oslo"),
    ("Garnet Foods", "B", "1200000.00", "Shanghai"),
]


@pytest.fixture
def accounts(client: TestClient) -> dict[str, int]:
    """Seven accounts with some tiers, revenues and cities left empty; name -> id."""
    records = [{"name": n, "tier": t, "annual_revenue": r, "city": c}
               for n, t, r, c in ACCOUNTS]
    answer = client.post("/api/v1/accounts/bulk", json={"records": records})
    assert answer.status_code == 200, answer.text
    return dict(zip([a[0] for a in ACCOUNTS], answer.json()["created"], strict=True))


def names(client: TestClient, **params: Any) -> list[str]:
    answer = client.get("/api/v1/accounts", params={"limit": 200, **params})
    assert answer.status_code == 200, answer.text
    return [a["name"] for a in answer.json()["items"]]


def test_every_filter_operator(client: TestClient, accounts: dict[str, int]) -> None:
    def matching(*filters: str) -> set[str]:
        return set(names(client, filter=list(filters)))

    assert matching("tier:eq:A") == {"Aurora Labs", "Cobalt 100% Ltd"}
    # ne keeps the records where the field is empty
    assert matching("tier:ne:A") == {"Birch & Co", "Delta_Works", "Ember Systems",
                                     "Fjord Medical", "Garnet Foods"}
    assert matching("annual_revenue:lt:350000") == {"Ember Systems"}
    assert matching("annual_revenue:lte:350000") == {"Birch & Co", "Delta_Works", "Ember Systems"}
    assert matching("annual_revenue:gt:350000") == {"Aurora Labs", "Garnet Foods"}
    assert matching("annual_revenue:gte:350000") == {"Aurora Labs", "Birch & Co", "Delta_Works",
                                                     "Garnet Foods"}
    assert matching("tier:in:B,C") == {"Birch & Co", "Ember Systems", "Garnet Foods"}
    assert matching("annual_revenue:between:100000,400000") == {"Birch & Co", "Delta_Works"}
    assert matching("tier:is_null:true") == {"Delta_Works", "Fjord Medical"}
    assert matching("tier:is_null:false", "city:is_null") == set()
    assert matching("city:is_null") == {"Delta_Works"}
    # contains is case-insensitive and takes % and _ literally
    assert matching("name:contains:SYSTEMS") == {"Ember Systems"}
    assert matching("name:contains:100%") == {"Cobalt 100% Ltd"}
    assert matching("name:contains:%") == {"Cobalt 100% Ltd"}
    assert matching("name:contains:_") == {"Delta_Works"}
    assert matching("name:contains:&") == {"Birch & Co"}
    # filters combine with AND; a value may contain colons
    assert matching("city:eq:Shanghai", "tier:eq:A") == {"Aurora Labs", "Cobalt 100% Ltd"}
    assert matching("name:eq:Aurora Labs") == {"Aurora Labs"}
    assert matching(f"id:eq:{accounts['Garnet Foods']}") == {"Garnet Foods"}


def test_date_and_datetime_filters(client: TestClient, sales_pipeline: dict[str, int]) -> None:
    for name, close in (("Q1 deal", "2026-03-31"), ("Q2 deal", "2026-06-30"), ("Open", None)):
        client.post("/api/v1/opportunities", json={"name": name, "close_date": close})
    for subject, at in (("Early call", "2026-05-01T08:00:00+08:00"),  # 00:00Z
                        ("Late call", "2026-05-01T23:30:00+00:00")):
        client.post("/api/v1/activities", json={"type": "call", "subject": subject,
                                                "occurred_at": at})

    def opportunities(raw: str) -> set[str]:
        items = client.get("/api/v1/opportunities", params={"filter": raw}).json()["items"]
        return {o["name"] for o in items}

    def activities(raw: str) -> set[str]:
        answer = client.get("/api/v1/activities", params={"filter": raw})
        assert answer.status_code == 200, answer.text
        return {a["subject"] for a in answer.json()["items"]}

    assert opportunities("close_date:lt:2026-04-01") == {"Q1 deal"}
    assert opportunities("close_date:between:2026-01-01,2026-12-31") == {"Q1 deal", "Q2 deal"}
    assert opportunities("close_date:is_null:true") == {"Open"}
    assert activities("occurred_at:lt:2026-05-01T01:00:00Z") == {"Early call"}
    assert activities("occurred_at:gte:2026-05-02T07:00:00+08:00") == {"Late call"}
    # a timestamp without an offset is ambiguous and refused
    naive = client.get("/api/v1/activities", params={"filter": "occurred_at:lt:2026-05-01T01:00:00"})
    assert naive.status_code == 422


def test_invalid_filters_are_422_naming_the_filter(
    client: TestClient, accounts: dict[str, int]
) -> None:
    cases = {
        "tier:like:A": "filter.tier",
        "tier:eq:Z": "filter.tier",
        "annual_revenue:gt:lots": "filter.annual_revenue",
        "annual_revenue:between:1": "filter.annual_revenue",
        "annual_revenue:gt:NaN": "filter.annual_revenue",
        "colour:eq:red": "filter.colour",
        "id:eq:99999999999999999999": "filter.id",
        "region_id:in:1,2,99999999999999999999": "filter.region_id",
        "created_at:gt:yesterday": "filter.created_at",
    }
    for raw, field in cases.items():
        answer = client.get("/api/v1/accounts", params={"filter": raw})
        assert answer.status_code == 422, (raw, answer.text)
        assert answer.json()["errors"][0]["field"] == field, raw
    malformed = client.get("/api/v1/accounts", params={"filter": "tier"})
    assert malformed.status_code == 422
    assert "field:operator:value" in malformed.json()["detail"]


def test_multi_field_sort(client: TestClient, accounts: dict[str, int]) -> None:
    # revenue descending, then name ascending among equal revenues
    ranked = names(client, sort="-annual_revenue,name", filter="annual_revenue:is_null:false")
    assert ranked == ["Aurora Labs", "Garnet Foods", "Birch & Co", "Delta_Works", "Ember Systems"]
    by_city = names(client, sort="city,-name", filter="city:is_null:false")
    assert by_city == ["Birch & Co", "Fjord Medical", "Garnet Foods", "Cobalt 100% Ltd",
                       "Aurora Labs", "Ember Systems"]
    unknown = client.get("/api/v1/accounts", params={"sort": "-colour"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "sort.colour"


def test_without_a_sort_the_newest_records_come_first(
    client: TestClient, accounts: dict[str, int]
) -> None:
    assert names(client) == [a[0] for a in reversed(ACCOUNTS)]


@pytest.mark.parametrize("sort", ["tier,-annual_revenue", "-tier,annual_revenue", "city,name",
                                  "-annual_revenue,-city", "annual_revenue"])
def test_cursor_pages_over_nullable_columns_have_no_duplicates_or_gaps(
    client: TestClient, container: Container, accounts: dict[str, int], sort: str
) -> None:
    # given the whole list in one page
    whole = client.get("/api/v1/accounts", params={"sort": sort, "limit": 200}).json()

    # when it is read two records at a time
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": sort, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/accounts", params=params)
        assert page.status_code == 200, page.text
        assert page.json()["count"] == 7
        paged.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if not cursor:
            break

    # then the pages hold every record once, in the order of the whole list
    assert [a["id"] for a in paged] == [a["id"] for a in whole["items"]]
    assert len({a["id"] for a in paged}) == len(ACCOUNTS)

    # and empty values of the first sort field sit together where the database sorts NULLs:
    # SQLite treats NULL as the smallest value, PostgreSQL as the largest
    first = sort.split(",")[0]
    field, descending = first.lstrip("-"), first.startswith("-")
    nulls_first = (container.engine.dialect.name == "sqlite") != descending
    empties = [a[field] is None for a in paged]
    n = sum(empties)
    assert n > 0
    assert empties == ([True] * n + [False] * (len(paged) - n) if nulls_first
                       else [False] * (len(paged) - n) + [True] * n)


def test_a_cursor_only_works_with_its_own_sort(client: TestClient, accounts: dict[str, int]) -> None:
    page = client.get("/api/v1/accounts", params={"sort": "name", "limit": 2}).json()
    other_sort = client.get("/api/v1/accounts",
                            params={"sort": "name,-tier", "cursor": page["next_cursor"]})
    assert other_sort.status_code == 422
    for garbage in ("not-base64!", "W1tdXQ==", "bnVsbA==", "W10="):
        answer = client.get("/api/v1/accounts", params={"sort": "name", "cursor": garbage})
        assert answer.status_code == 422, garbage


def test_page_size_is_bounded(client: TestClient, accounts: dict[str, int]) -> None:
    assert client.get("/api/v1/accounts", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/accounts", params={"limit": 201}).status_code == 422
    page = client.get("/api/v1/accounts", params={"limit": 3}).json()
    assert len(page["items"]) == 3
    assert page["count"] == 7
    assert page["count_capped"] is False
    assert page["next_cursor"]


def test_contains_only_applies_to_text(client: TestClient, accounts: dict[str, int]) -> None:
    for raw in ("annual_revenue:contains:12", "region_id:contains:1", "created_at:contains:2026",
                "id:contains:1"):
        answer = client.get("/api/v1/accounts", params={"filter": raw})
        assert answer.status_code == 422, (raw, answer.text)
        assert "contains works on text fields" in answer.json()["errors"][0]["message"]
    assert names(client, filter="website:contains:example") == []
