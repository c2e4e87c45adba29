"""Point-of-sale import: order files become ``Order Completed`` events, once, and bad rows
become dead letters holding the row (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rapport.bootstrap import Container
from rapport.config import get_settings
from rapport.events import sources
from rapport.events.hub_models import DeadLetter, HubEvent
from rapport.events.pos_import import import_file, import_orders
from rapport.events.sources import SourceInfo

CSV = """\ufefforder_id,email,phone,loyalty_id,time,total,currency,store,sku,product,quantity,price
A-1001,ana@example.com,,L-77,2024-05-01T09:30:00+08:00,120.50,CNY,Shanghai-1,SKU-1,Tea,2,40.25
A-1001,ana@example.com,,L-77,2024-05-01T09:30:00+08:00,120.50,CNY,Shanghai-1,SKU-2,Cup,1,40.00
A-1002,,13912345678,,2024-05-01T10:00:00Z,35,CNY,Shanghai-1,SKU-1,Tea,1,35
A-1003,bo@example.com,,,2024-05-01T11:00:00+08:00,twelve,CNY,Shanghai-1,,,,
,cy@example.com,,,2024-05-01T12:00:00+08:00,10,CNY,Shanghai-1,,,,
A-1005,=HYPERLINK("x"),,,2024-05-01 12:30:00,10,CNY,Shanghai-1,,,,
"""


@pytest.fixture
def till(container: Container) -> SourceInfo:
    with container.uow() as uow:
        issued = sources.create_source(uow.session, "shanghai-tills", "pos")
        uow.commit()
    return issued.source


def _events(container: Container) -> list[HubEvent]:
    with container.session_factory() as session:
        return list(session.scalars(select(HubEvent).order_by(HubEvent.message_id)))


def _dead(container: Container) -> list[DeadLetter]:
    with container.session_factory() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def test_csv_orders_become_order_completed_events_with_line_items(
        container: Container, till: SourceInfo) -> None:
    report = import_orders(container.session_factory, container.settings, till, till.name,
                           CSV.encode(), "csv")

    assert (report.rows, report.orders, report.accepted) == (6, 5, 2)
    events = {e.message_id: e for e in _events(container)}
    assert set(events) == {"A-1001", "A-1002"}
    first = events["A-1001"]
    assert (first.type, first.name, first.channel) == ("track", "Order Completed", "pos")
    assert first.properties["total"] == 120.5
    assert first.properties["currency"] == "CNY"
    assert [p["sku"] for p in first.properties["products"]] == ["SKU-1", "SKU-2"]
    assert first.properties["products"][0] == {"sku": "SKU-1", "product_id": "SKU-1",
                                               "name": "Tea", "quantity": 2, "price": 40.25}
    assert first.timestamp.isoformat().startswith("2024-05-01T01:30:00")
    assert first.context["traits"] == {"email": "ana@example.com", "external_id": "L-77",
                                       "loyalty_id": "L-77"}
    assert first.anonymous_id == "pos:L-77"
    assert events["A-1002"].context["traits"] == {"phone": "13912345678"}


def test_bad_rows_are_dead_lettered_with_the_row_and_reported(
        container: Container, till: SourceInfo) -> None:
    report = import_orders(container.session_factory, container.settings, till, till.name,
                           CSV.encode(), "csv")

    assert report.dead_lettered == 3
    assert [(e.row, e.order_id) for e in report.errors] == [(4, "A-1003"), (5, None),
                                                           (6, "A-1005")]
    reasons = [e.reason for e in report.errors]
    assert "total 'twelve' is not a number" in reasons[0]
    assert "no order id" in reasons[1]
    assert "no UTC offset" in reasons[2]
    assert "--timezone" in reasons[2]
    dead = _dead(container)
    assert len(dead) == 3
    assert all(d.status == "open" and d.source_id == till.id for d in dead)
    kept = orjson.loads(dead[0].payload)
    assert kept["messageId"] == "A-1003"
    assert kept["properties"]["pos_original"]["total"] == "twelve"
    # a formula-looking value is kept verbatim (escaping is the exporter's job)
    assert orjson.loads(dead[2].payload)["properties"]["pos_original"]["email"] == '=HYPERLINK("x")'


def test_reimporting_the_same_file_stores_nothing_new(container: Container,
                                                     till: SourceInfo) -> None:
    import_orders(container.session_factory, container.settings, till, till.name,
                  CSV.encode(), "csv")
    again = import_orders(container.session_factory, container.settings, till, till.name,
                          CSV.encode(), "csv")

    assert (again.accepted, again.duplicates) == (0, 2)
    assert len(_events(container)) == 2


def test_a_timezone_places_local_till_times(container: Container, till: SourceInfo) -> None:
    report = import_orders(container.session_factory, container.settings, till, till.name,
                           CSV.encode(), "csv", timezone="Asia/Shanghai")

    assert report.accepted == 3
    local = next(e for e in _events(container) if e.message_id == "A-1005")
    assert local.timestamp.isoformat().startswith("2024-05-01T04:30:00")


def test_json_orders_with_items_and_a_default_currency(container: Container,
                                                       till: SourceInfo, tmp_path: Path) -> None:
    orders = {"orders": [
        {"order_id": 9001, "customer_email": "dan@example.com", "ordered_at": 1714555800,
         "total": "99.90", "items": [{"sku": "B-1", "name": "Sensor", "qty": 1, "price": 99.9}]},
        {"order_id": "9002", "phone": 8613912345678, "time": "2024-05-01T10:00:00+08:00",
         "total": 5},
        "not an order",
    ]}
    path = tmp_path / "orders.json"
    path.write_bytes(orjson.dumps(orders))

    report = import_file(container.session_factory, container.settings, till, till.name, path,
                         currency="cny")

    assert (report.orders, report.accepted, report.dead_lettered) == (3, 2, 1)
    events = {e.message_id: e for e in _events(container)}
    assert events["9001"].properties["products"] == [
        {"sku": "B-1", "product_id": "B-1", "name": "Sensor", "quantity": 1, "price": 99.9}]
    assert events["9001"].properties["currency"] == "CNY"
    assert events["9001"].timestamp.isoformat().startswith("2024-05-01T09:30:00")
    assert events["9002"].context["traits"]["phone"] == "8613912345678"
    assert report.errors[0].row == 3
    assert "JSON object" in report.errors[0].reason


def test_invalid_utf8_rows_are_kept_with_their_bytes(container: Container,
                                                     till: SourceInfo) -> None:
    data = (b"order_id,email,time,total,currency\n"
            b"B-1,ok@example.com,2024-05-01T09:00:00Z,1,CNY\n"
            b"B-2,caf\xe9@example.com,2024-05-01T09:00:00Z,1,CNY\n")

    report = import_orders(container.session_factory, container.settings, till, till.name,
                           data, "csv")

    assert (report.accepted, report.dead_lettered) == (1, 1)
    assert report.errors[0].code == "invalid_encoding"
    kept = orjson.loads(_dead(container)[0].payload)
    assert kept["properties"]["pos_original"]["email"] == "caf\\xe9@example.com"


def test_the_cli_imports_a_file_and_prints_the_report(container: Container, till: SourceInfo,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from rapport.cli.hub_sources import register

    root = typer.Typer()
    register(root)  # as the rapport command registers it
    monkeypatch.setenv("RAPPORT_DATABASE_URL", container.settings.database_url)
    get_settings.cache_clear()
    path = tmp_path / "orders.csv"
    path.write_text(CSV, encoding="utf-8")
    try:
        result = CliRunner().invoke(root, ["events", "import-orders", str(path), "--source",
                                           till.name])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1, result.output  # some rows were dead-lettered
    assert "2 stored" in result.output
    assert "3 dead-lettered" in result.output
    assert "row 4" in result.output
    assert "A-1003" in result.output
    assert len(_events(container)) == 2
