"""Quotes and their lines: line totals and the quote total are computed, never sent."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def post(client: TestClient, url: str, **body: Any) -> dict[str, Any]:
    answer = client.post(url, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def total(client: TestClient, quote: dict[str, Any]) -> str:
    return client.get(f"/api/v1/quotes/{quote['id']}").json()["total"]  # type: ignore[no-any-return]


@pytest.fixture
def quote(client: TestClient) -> dict[str, Any]:
    return post(client, "/api/v1/quotes", number="Q-2026-001", currency="EUR")


def test_line_totals_apply_quantity_price_and_discount(
    client: TestClient, quote: dict[str, Any]
) -> None:
    valve = post(client, "/api/v1/products", sku="EX-VALVE", name="Valve")
    line = post(client, "/api/v1/quote_lines", quote_id=quote["id"], product_id=valve["id"],
                quantity="3", unit_price="100.00", discount_pct="10")
    assert line["line_total"] == "270.00"
    odd = post(client, "/api/v1/quote_lines", quote_id=quote["id"], quantity="2.5",
               unit_price="19.99", discount_pct="0")
    assert odd["line_total"] == "49.98"  # 49.975 rounds half-even to the cent
    assert total(client, quote) == "319.98"


def test_the_quote_total_follows_every_line_change(
    client: TestClient, quote: dict[str, Any]
) -> None:
    first = post(client, "/api/v1/quote_lines", quote_id=quote["id"], unit_price="100.00")
    second = post(client, "/api/v1/quote_lines", quote_id=quote["id"], unit_price="50.00",
                  quantity="2")
    assert total(client, quote) == "200.00"

    client.patch(f"/api/v1/quote_lines/{first['id']}", json={"quantity": "3"})
    assert total(client, quote) == "400.00"

    client.delete(f"/api/v1/quote_lines/{second['id']}")
    assert total(client, quote) == "300.00"


def test_moving_a_line_updates_both_quotes(client: TestClient, quote: dict[str, Any]) -> None:
    other = post(client, "/api/v1/quotes", number="Q-2026-002")
    line = post(client, "/api/v1/quote_lines", quote_id=quote["id"], unit_price="75.00")
    moved = client.patch(f"/api/v1/quote_lines/{line['id']}", json={"quote_id": other["id"]})
    assert moved.status_code == 200
    assert total(client, quote) == "0.00"
    assert total(client, other) == "75.00"


def test_totals_cannot_be_written_by_clients(client: TestClient, quote: dict[str, Any]) -> None:
    assert client.patch(f"/api/v1/quotes/{quote['id']}", json={"total": "1.00"}).status_code == 422
    line = client.post("/api/v1/quote_lines", json={
        "quote_id": quote["id"], "unit_price": "10.00", "line_total": "999.00"})
    assert line.status_code == 422
    assert line.json()["errors"][0]["field"] == "line_total"


def test_line_values_are_bounded(client: TestClient, quote: dict[str, Any]) -> None:
    cases = [
        ({"unit_price": "-1.00"}, "unit_price"),
        ({"unit_price": "0.333"}, "unit_price"),
        ({"unit_price": "10.00", "discount_pct": "101"}, "discount_pct"),
        ({"unit_price": "10.00", "quantity": "-2"}, "quantity"),
        ({"unit_price": "1e30"}, "unit_price"),
        ({"unit_price": "9999999999999999.99", "quantity": "999999999999999.999"}, "line_total"),
    ]
    for body, field in cases:
        answer = client.post("/api/v1/quote_lines", json={"quote_id": quote["id"], **body})
        assert answer.status_code == 422, body
        assert answer.json()["errors"][0]["field"] == field, body
    assert total(client, quote) == "0.00"


def test_a_quote_takes_the_default_currency(client: TestClient) -> None:
    assert post(client, "/api/v1/quotes", number="Q-2026-003")["currency"] == "CNY"
    refused = client.post("/api/v1/quotes", json={"number": "Q-2026-004", "currency": "XXY"})
    assert refused.status_code == 422
