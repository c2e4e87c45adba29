"""List queries: filters with operators, multi-field sort, keyset cursors, capped counts."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import Select, and_, false, func, literal, literal_column, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from rapport.crm.registry import (
    INT32_MAX,
    KIND_BOOLEAN,
    KIND_DATE,
    KIND_DATETIME,
    KIND_ENUM,
    KIND_INTEGER,
    KIND_JSON,
    KIND_MONEY,
    KIND_MULTI_ENUM,
    KIND_NUMBER,
    KIND_REFERENCE,
    KIND_TEXT,
    FieldSpec,
    ObjectSpec,
)
from rapport.crm.schemas import MAX_ID
from rapport.errors import ErrorCollector, ValidationFailed

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "is_null", "between")
# Kinds stored as text, which ``contains`` can search (PostgreSQL has no ILIKE on numbers).
TEXT_KINDS = (KIND_TEXT, KIND_ENUM, "email", "phone", "url", "currency")


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: str

    @classmethod
    def parse(cls, raw: str) -> Filter:
        """``field:op:value`` (the value may itself contain colons)."""
        parts = raw.split(":", 2)
        if len(parts) == 2 and parts[1] == "is_null":
            parts.append("true")
        if len(parts) != 3:
            raise ValidationFailed(
                f"Filter '{raw}' must look like field:operator:value, e.g. tier:eq:A "
                f"(operators: {', '.join(OPERATORS)})"
            )
        return cls(*parts)


@dataclass
class ListQuery:
    filters: list[Filter] = field(default_factory=list)
    sort: list[str] = field(default_factory=list)
    q: str | None = None
    limit: int = 50
    cursor: str | None = None


def _parse_value(spec: FieldSpec, raw: str) -> Any:
    kind = spec.kind
    try:
        if kind in (KIND_INTEGER, KIND_REFERENCE):
            number = int(raw)
            if not -MAX_ID <= number <= MAX_ID:
                raise ValueError("beyond the 64-bit integer range")
            if spec.maximum is not None and spec.maximum <= INT32_MAX and abs(number) > INT32_MAX:
                raise ValueError("beyond the 32-bit range of this field")
            return number
        if kind in (KIND_MONEY, KIND_NUMBER):
            value = Decimal(raw)
            if not value.is_finite():
                raise ValueError("not finite")
            return value if not spec.custom else float(value)
        if kind == KIND_DATE:
            return date.fromisoformat(raw).isoformat() if spec.custom else date.fromisoformat(raw)
        if kind == KIND_DATETIME:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError("timezone offset required, e.g. 2026-01-31T09:00:00+08:00")
            return parsed.astimezone(UTC).isoformat() if spec.custom else parsed
        if kind == KIND_BOOLEAN:
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError("use true or false")
            return lowered in ("true", "1")
        if kind in (KIND_ENUM, KIND_MULTI_ENUM) and spec.options and raw not in spec.options:
            raise ValueError(f"allowed values: {', '.join(spec.options)}")
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(f"'{raw}' is not a valid {kind}: {exc}") from exc
    return raw


def field_expression(spec: ObjectSpec, f: FieldSpec) -> ColumnElement[Any]:
    model = spec.model
    if not f.custom:
        return getattr(model, f.name)  # type: ignore[no-any-return]
    element = model.custom[f.name]  # type: ignore[attr-defined]
    if f.kind in (KIND_MONEY, KIND_NUMBER, KIND_INTEGER, KIND_REFERENCE):
        return element.as_float()  # type: ignore[no-any-return]
    if f.kind == KIND_BOOLEAN:
        return element.as_boolean()  # type: ignore[no-any-return]
    return element.as_string()  # type: ignore[no-any-return]


def _condition(spec: ObjectSpec, f: FieldSpec, flt: Filter) -> ColumnElement[bool]:
    expr = field_expression(spec, f)
    op = flt.op
    if op == "is_null":
        wanted = _parse_value(FieldSpec("x", KIND_BOOLEAN, "x", "x"), flt.value)
        return expr.is_(None) if wanted else expr.is_not(None)
    if op == "in":
        return expr.in_([_parse_value(f, v) for v in flt.value.split(",") if v != ""])
    if op == "between":
        bounds = flt.value.split(",")
        if len(bounds) != 2:
            raise ValueError("between takes two values: low,high")
        return expr.between(_parse_value(f, bounds[0]), _parse_value(f, bounds[1]))
    if op == "contains":
        if f.kind == KIND_MULTI_ENUM:  # the JSON text of the array holds '"value"'
            return expr.like(f'%"{_parse_value(f, flt.value)}"%')
        if f.kind not in TEXT_KINDS:
            raise ValueError(f"contains works on text fields, not {f.kind}; use eq, lt, gt, between")
        escaped = flt.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return expr.ilike(f"%{escaped}%", escape="\\")
    value = _parse_value(f, flt.value)
    if op == "eq":
        return expr == value  # type: ignore[no-any-return]
    if op == "ne":
        return or_(expr != value, expr.is_(None))
    if op == "lt":
        return expr < value  # type: ignore[no-any-return]
    if op == "lte":
        return expr <= value  # type: ignore[no-any-return]
    if op == "gt":
        return expr > value  # type: ignore[no-any-return]
    if op == "gte":
        return expr >= value  # type: ignore[no-any-return]
    raise ValueError(f"unknown operator '{op}'; use one of {', '.join(OPERATORS)}")


def resolve_field(spec: ObjectSpec, custom_fields: dict[str, FieldSpec], name: str) -> FieldSpec:
    name = name.removeprefix("custom.")
    if name in spec.fields:
        return spec.fields[name]
    if name in custom_fields:
        return custom_fields[name]
    known = sorted([*spec.fields, *custom_fields])
    raise ValueError(f"unknown field '{name}'; known fields: {', '.join(known)}")


def apply_filters(
    stmt: Select[Any], spec: ObjectSpec, custom_fields: dict[str, FieldSpec], filters: list[Filter]
) -> Select[Any]:
    errors = ErrorCollector()
    for flt in filters:
        try:
            f = resolve_field(spec, custom_fields, flt.field)
            stmt = stmt.where(_condition(spec, f, flt))
        except ValueError as exc:
            errors.add(f"filter.{flt.field}", str(exc))
    errors.raise_if_any("Some filters are invalid")
    return stmt


@dataclass(frozen=True)
class SortKey:
    spec: FieldSpec
    expr: ColumnElement[Any]
    descending: bool


def sort_keys(
    spec: ObjectSpec,
    custom_fields: dict[str, FieldSpec],
    sort: list[str],
    *,
    id_expr: ColumnElement[Any] | None = None,
) -> list[SortKey]:
    """Sort keys ending with the id tie-breaker (``id_expr`` may stand in for the id column)."""
    errors = ErrorCollector()
    keys: list[SortKey] = []
    id_descending: bool | None = None
    for raw in sort or list(spec.default_sort):
        descending = raw.startswith("-")
        name = raw.lstrip("-+")
        if name == "id":
            id_descending = descending
            continue
        try:
            f = resolve_field(spec, custom_fields, name)
        except ValueError as exc:
            errors.add(f"sort.{name}", str(exc))
            continue
        if f.kind in (KIND_MULTI_ENUM, KIND_JSON):
            errors.add(f"sort.{name}", f"{f.kind} fields cannot be sorted; filter them instead")
            continue
        keys.append(SortKey(f, field_expression(spec, f), descending))
    errors.raise_if_any("Some sort fields are invalid")
    if id_descending is None:
        id_descending = keys[-1].descending if keys else True
    id_column = id_expr if id_expr is not None else spec.model.id  # type: ignore[attr-defined]
    keys.append(SortKey(spec.fields["id"], id_column, id_descending))
    return keys


def order_by(keys: list[SortKey]) -> list[ColumnElement[Any]]:
    """Plain ASC/DESC so indexes serve the sort; NULLs sort where the database puts them."""
    return [key.expr.desc() if key.descending else key.expr.asc() for key in keys]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values, default=_json_default)).decode()


def decode_cursor(cursor: str, keys: list[SortKey]) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("shape")
        values: list[Any] = []
        for key, value in zip(keys, raw, strict=True):
            values.append(None if value is None else _parse_value(key.spec, str(value)))
        return values
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed(
            "The cursor is invalid or belongs to another sort; start again without it"
        ) from exc


def nulls_smallest(dialect: str) -> bool:
    """SQLite sorts NULL before every value; PostgreSQL after."""
    return dialect == "sqlite"


def keyset_condition(
    keys: list[SortKey], values: list[Any], dialect: str
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order given by ``keys``."""
    smallest = nulls_smallest(dialect)
    branches: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        nulls_at_end = key.descending == smallest
        after: ColumnElement[bool]
        if value is None:
            after = false() if nulls_at_end else key.expr.is_not(None)
            same = key.expr.is_(None)
        else:
            bound = literal(value) if isinstance(value, bool) else value  # SQLAlchemy: no `< True`
            after = key.expr < bound if key.descending else key.expr > bound
            if key.spec.nullable and nulls_at_end:
                after = or_(after, key.expr.is_(None))
            same = key.expr == value
        branches.append(and_(*equal_so_far, after))
        equal_so_far.append(same)
    return or_(*branches)


def row_cursor_values(keys: list[SortKey], row: Any) -> list[Any]:
    values = []
    for key in keys:
        if key.spec.custom:
            values.append((row.custom or {}).get(key.spec.name))
        else:
            values.append(getattr(row, key.spec.name))
    return values


def capped_count(session: Any, stmt: Select[Any], cap: int) -> tuple[int, bool]:
    """Count up to ``cap`` + 1 rows: (count, is_capped). Never a full COUNT(*) on big tables."""
    # Only a constant per row: SQLite can then answer from an index without reading rows.
    counted: Select[Any] = stmt.with_only_columns(literal_column("1"), maintain_column_froms=True)
    sub = counted.order_by(None).limit(cap + 1).subquery()
    total = session.execute(select(func.count()).select_from(sub)).scalar_one()
    return (min(total, cap), total > cap)


def negate(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    return not_(clause)
