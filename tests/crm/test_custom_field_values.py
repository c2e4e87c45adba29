"""Custom field values are checked and normalised the same way whichever door they came in."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.crm.custom_fields import validate_custom_values
from rapport.crm.registry import FieldSpec
from rapport.errors import ErrorCollector


def spec(name: str, kind: str, **extra: Any) -> FieldSpec:
    return FieldSpec(name=name, kind=kind, category="custom", label=name, custom=True, **extra)


SPECS = {s.name: s for s in (
    spec("note", "text", max_length=10),
    spec("score", "number"),
    spec("budget", "money"),
    spec("due", "date"),
    spec("seen_at", "datetime"),
    spec("vip", "boolean"),
    spec("tier", "enum", options=("a", "b")),
    spec("tags", "multi_enum", options=("x", "y")),
    spec("mail", "email"),
    spec("tel", "phone"),
    spec("site", "url"),
    spec("partner", "reference", reference="accounts"),
    spec("code", "text", required=True, nullable=False),
)}


def check(incoming: dict[str, Any], current: dict[str, Any] | None = None
          ) -> tuple[dict[str, Any], dict[str, str]]:
    errors = ErrorCollector()
    merged = validate_custom_values(SPECS, {"code": "C1", **incoming}, current, errors, "CN")
    return merged, {e.field: e.code for e in errors.errors}


@pytest.mark.parametrize(("name", "value", "stored"), [
    ("note", " hello\u200b ", "hello"),
    ("score", "2.5", 2.5),
    ("score", -7, -7.0),
    ("budget", "1234.56", 1234.56),
    ("due", "2026-02-28", "2026-02-28"),
    ("seen_at", "2026-02-28T23:00:00-05:00", "2026-03-01T04:00:00+00:00"),
    ("seen_at", "2026-02-28T04:00:00Z", "2026-02-28T04:00:00+00:00"),
    ("vip", False, False),
    ("tier", "b", "b"),
    ("tags", ["y", "x", "y"], ["x", "y"]),
    ("mail", "Ｏla＠Example.com", "ola@example.com"),
    ("mail", "ola\u200b@example.com", "ola@example.com"),
    ("tel", "+49 30 1234567", "+49301234567"),
    ("tel", "(021) 6212 3456", "+862162123456"),
    ("site", "example.com/about", "https://example.com/about"),
    ("partner", 12, 12),
])
def test_valid_values_are_normalised(name: str, value: Any, stored: Any) -> None:
    merged, errors = check({name: value})
    assert errors == {}
    assert merged[name] == stored


@pytest.mark.parametrize(("name", "value"), [
    ("note", "x" * 11), ("note", 5), ("note", "nul\u0000"),
    ("score", "many"), ("score", True), ("score", float("nan")), ("score", "Infinity"),
    ("score", 2**53 + 2), ("budget", "1e999999"),
    ("due", "2026-02-29"), ("due", 20260228),
    ("seen_at", "2026-02-28T23:00:00"), ("seen_at", "yesterday"),
    ("vip", "true"), ("vip", 1),
    ("tier", "c"), ("tier", ["a"]),
    ("tags", "x"), ("tags", ["x", "z"]),
    ("mail", "nobody"), ("mail", ["a@example.com"]),
    ("tel", 13800138000), ("tel", "12"),
    ("site", "not a url"), ("site", {"href": "https://example.com"}),
    ("partner", 0), ("partner", True), ("partner", "12"), ("partner", 2**63),
])
def test_invalid_values_are_reported_by_field(name: str, value: Any) -> None:
    _, errors = check({name: value})
    assert list(errors) == [f"custom.{name}"]


def test_unknown_fields_required_fields_and_clearing() -> None:
    errors = ErrorCollector()
    merged = validate_custom_values(SPECS, {"colour": "red", "note": None},
                                    {"note": "old", "score": 1.0}, errors, "CN")
    assert {e.field: e.code for e in errors.errors} == {
        "custom.colour": "unknown_field", "custom.code": "required"}
    assert merged == {"score": 1.0}
