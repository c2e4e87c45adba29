"""List views: query parameters ↔ ``ListQuery``, columns, filter chips and keyset paging."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import QueryParams

from rapport.crm.query import OPERATORS, Filter, ListQuery
from rapport.crm.registry import KIND_JSON, OBJECTS, FieldSpec, ObjectSpec
from rapport.crm.saved_views import View
from rapport.crm.service import Page
from rapport.web.display import Display, input_name
from rapport.web.i18n import N_

PAGE_SIZE = 25
FIRST_PAGE = "-"  # stands for "no cursor" in the trail of previous cursors

DEFAULT_COLUMNS: dict[str, list[str]] = {
    "accounts": ["tier", "industry", "city", "owner_id", "annual_revenue"],
    "contacts": ["account_id", "email", "phone", "job_title", "owner_id"],
    "leads": ["company", "status", "source", "rating", "email", "owner_id"],
    "opportunities": ["account_id", "amount", "stage_id", "close_date", "status", "owner_id"],
    "activities": ["type", "occurred_at", "account_id", "contact_id", "owner_id"],
    "tasks": ["status", "priority", "due_at", "assignee_id"],
    "tickets": ["status", "priority", "channel", "account_id", "assignee_id"],
    "products": ["sku", "business_line", "unit", "active"],
    "quotes": ["account_id", "status", "total", "valid_until"],
}

OPERATOR_LABELS: dict[str, str] = {
    "eq": N_("is"),
    "ne": N_("is not"),
    "lt": N_("less than"),
    "lte": N_("at most"),
    "gt": N_("greater than"),
    "gte": N_("at least"),
    "in": N_("is one of"),
    "contains": N_("contains"),
    "is_null": N_("is empty"),
    "between": N_("between"),
}
assert set(OPERATOR_LABELS) == set(OPERATORS)


def all_fields(spec: ObjectSpec, custom: Mapping[str, FieldSpec]) -> dict[str, FieldSpec]:
    """Every field a list can show or filter on, keyed by input name (``custom.x``)."""
    fields = {name: f for name, f in spec.fields.items() if f.kind != KIND_JSON}
    fields.update({input_name(f): f for f in custom.values()})
    return fields


def sort_key_field(spec: ObjectSpec) -> str:
    """The field the title column sorts by (contacts by last name, accounts by name)."""
    return spec.title_fields[-1]


@dataclass
class ListState:
    """What a list page shows, as read from (and written back to) the URL."""

    object_name: str
    q: str = ""
    filters: list[str] = field(default_factory=list)
    sort: str = ""
    columns: list[str] = field(default_factory=list)
    cursor: str = ""
    trail: list[str] = field(default_factory=list)
    view_id: int | None = None

    @classmethod
    def from_params(cls, object_name: str, params: QueryParams,
                    known: Mapping[str, FieldSpec]) -> ListState:
        filters = [f for f in params.getlist("filter") if f]
        added_field, added_op = params.get("ff"), params.get("fo")
        if added_field and added_op:
            filters.append(f"{added_field}:{added_op}:{params.get('fv') or ''}")
        columns = [c for c in params.getlist("cols") if c in known]
        if not columns:
            columns = [c for c in DEFAULT_COLUMNS.get(object_name, []) if c in known]
        trail = [t for t in (params.get("trail") or "").split(".") if t]
        view = params.get("view")
        return cls(
            object_name=object_name,
            q=(params.get("q") or "").strip()[:200],
            filters=filters,
            sort=(params.get("sort") or "").strip(),
            columns=columns,
            cursor=params.get("cursor") or "",
            trail=trail,
            view_id=int(view) if view and view.isdigit() else None,
        )

    def query(self, limit: int = PAGE_SIZE) -> ListQuery:
        return ListQuery(
            filters=[Filter.parse(f) for f in self.filters],
            sort=[s.strip() for s in self.sort.split(",") if s.strip()],
            q=self.q or None,
            limit=limit,
            cursor=self.cursor or None,
        )

    def params(self, **changes: Any) -> dict[str, Any]:
        """URL parameters of this state (without paging unless given), with changes."""
        base: dict[str, Any] = {
            "q": self.q, "filter": list(self.filters), "sort": self.sort,
            "cols": list(self.columns),
        }
        if self.view_id:
            base["view"] = self.view_id
        base.update(changes)
        return base

    def sort_params(self, key: str) -> dict[str, Any]:
        """Clicking a header sorts by it ascending, a second click descending."""
        return self.params(sort=f"-{key}" if self.sort == key else key)

    def sort_direction(self, key: str) -> str:
        if self.sort == key:
            return "asc"
        if self.sort == f"-{key}":
            return "desc"
        return ""

    def without_filter(self, raw: str) -> dict[str, Any]:
        return self.params(filter=[f for f in self.filters if f != raw])

    def next_params(self, page: Page) -> dict[str, Any] | None:
        if not page.next_cursor:
            return None
        trail = [*self.trail, self.cursor or FIRST_PAGE]
        return self.params(cursor=page.next_cursor, trail=".".join(trail))

    def previous_params(self) -> dict[str, Any] | None:
        if not self.trail:
            return None
        previous = self.trail[-1]
        return self.params(
            cursor="" if previous == FIRST_PAGE else previous, trail=".".join(self.trail[:-1])
        )

    def first_index(self, limit: int = PAGE_SIZE) -> int:
        return len(self.trail) * limit + 1

    def as_view_query(self) -> dict[str, Any]:
        return {"q": self.q, "filters": list(self.filters), "sort": self.sort}


def view_params(view: View) -> dict[str, Any]:
    return {
        "q": view.query.get("q") or "",
        "filter": list(view.query.get("filters") or []),
        "sort": view.query.get("sort") or "",
        "cols": list(view.columns),
        "view": view.id,
    }


@dataclass
class FilterChip:
    raw: str
    label: str
    remove: dict[str, Any]


def filter_chips(state: ListState, known: Mapping[str, FieldSpec], display: Display,
                 titles: Mapping[tuple[str, int], str]) -> list[FilterChip]:
    chips = []
    for raw in state.filters:
        parts = raw.split(":", 2)
        name = parts[0]
        op = parts[1] if len(parts) > 1 else ""
        value = parts[2] if len(parts) > 2 else ""
        spec = known.get(name) or known.get(name.removeprefix("custom."))
        label = display.label(spec) if spec else name
        op_label = display.gettext(OPERATOR_LABELS.get(op, op))
        shown = value
        if spec is not None and spec.reference and value.isdigit():
            target = spec.reference if spec.reference in OBJECTS else "custom_records"
            shown = titles.get((target, int(value)), f"#{value}")
        elif spec is not None and spec.options and value:
            shown = ", ".join(display.option(v) for v in value.split(","))
        if op == "is_null":
            shown = ""
        chips.append(FilterChip(raw, f"{label} {op_label} {shown}".strip(), state.without_filter(raw)))
    return chips


def filter_reference_rows(state: ListState) -> list[dict[str, Any]]:
    """Filter values as rows, so reference titles can be looked up for the chips."""
    rows: list[dict[str, Any]] = []
    for raw in state.filters:
        parts = raw.split(":", 2)
        if len(parts) == 3 and parts[1] == "eq" and parts[2].isdigit():
            name = parts[0]
            if name.startswith("custom."):
                rows.append({"custom": {name.removeprefix("custom."): int(parts[2])}})
            else:
                rows.append({name: int(parts[2])})
    return rows
