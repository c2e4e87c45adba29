"""Form data → service input: types per field kind, the user's time zone, changed fields only."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.datastructures import FormData

from rapport.crm.registry import OBJECTS
from rapport.web.formatting import Formatter
from rapport.web.forms import editable_fields, parse_form

SHANGHAI = Formatter("zh_CN", timezone="Asia/Shanghai")


def test_values_are_converted_per_field_kind() -> None:
    fields = editable_fields(OBJECTS["tasks"], {})
    parsed = parse_form(fields, FormData([
        ("title", " Call back "), ("due_at", "2026-01-05T09:00"), ("account_id", "7"),
        ("priority", "high"), ("description", ""),
    ]), SHANGHAI)
    assert parsed.errors == {}
    assert parsed.data["title"] == "Call back"
    assert parsed.data["due_at"].astimezone(UTC) == datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    assert parsed.data["account_id"] == 7
    assert "description" not in parsed.data  # empty on create: left to the default


def test_bad_numbers_are_reported_per_field() -> None:
    fields = editable_fields(OBJECTS["opportunities"], {})
    parsed = parse_form(fields, FormData([("amount", "lots"), ("account_id", "x")]), SHANGHAI)
    assert parsed.errors == {"amount": "enter a number, e.g. 1250000.00",
                             "account_id": "enter a whole number"}


def test_on_update_only_changed_fields_are_sent_and_empty_clears() -> None:
    fields = editable_fields(OBJECTS["contacts"], {})
    current = {"last_name": "Lima", "first_name": "Ana", "email": "ana@example.com"}
    parsed = parse_form(fields, FormData([
        ("last_name", "Lima"), ("first_name", ""), ("email", "ana@example.com"),
    ]), SHANGHAI, current=current)
    assert parsed.data == {"first_name": None}
