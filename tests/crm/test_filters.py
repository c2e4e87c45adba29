"""The filter syntax ``field:operator:value``."""

from __future__ import annotations

import pytest

from rapport.crm.query import Filter
from rapport.errors import ValidationFailed


@pytest.mark.parametrize(("raw", "parsed"), [
    ("tier:eq:A", Filter("tier", "eq", "A")),
    ("website:eq:https://example.com", Filter("website", "eq", "https://example.com")),
    ("occurred_at:gt:2026-01-01T09:00:00+08:00",
     Filter("occurred_at", "gt", "2026-01-01T09:00:00+08:00")),
    ("phone:is_null", Filter("phone", "is_null", "true")),
    ("name:eq:", Filter("name", "eq", "")),
    ("custom.budget:between:1,5", Filter("custom.budget", "between", "1,5")),
])
def test_filters_parse(raw: str, parsed: Filter) -> None:
    assert Filter.parse(raw) == parsed


@pytest.mark.parametrize("raw", ["tier", "tier:eq", "", ":"])
def test_a_filter_without_operator_and_value_is_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed, match="field:operator:value"):
        Filter.parse(raw)
