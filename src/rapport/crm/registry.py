"""The object registry: one ``ObjectSpec`` per record type, derived from its table.

API, UI, import/export and JSON Schema all read the registry, so a new column is exposed
everywhere the day it is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Integer, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase

from rapport.crm import models as m
from rapport.db.base import UtcDateTime
from rapport.trust.models import User

# Field kinds shared by built-in columns and custom fields.
KIND_TEXT = "text"
KIND_NUMBER = "number"
KIND_INTEGER = "integer"
KIND_MONEY = "money"
KIND_DATE = "date"
KIND_DATETIME = "datetime"
KIND_BOOLEAN = "boolean"
KIND_ENUM = "enum"
KIND_MULTI_ENUM = "multi_enum"
KIND_EMAIL = "email"
KIND_PHONE = "phone"
KIND_URL = "url"
KIND_REFERENCE = "reference"
KIND_JSON = "json"
KIND_CURRENCY = "currency"


@dataclass(frozen=True)
class FieldSpec:
    """What a client may know about one field."""

    name: str
    kind: str
    category: str
    label: str
    nullable: bool = True
    writable: bool = True
    required: bool = False
    max_length: int | None = None
    options: tuple[str, ...] = ()
    reference: str | None = None  # object name the id points to
    minimum: float | None = None
    maximum: float | None = None
    searchable: bool = False
    custom: bool = False
    python_type: type = str


@dataclass(frozen=True)
class ObjectSpec:
    """One record type: its API name, table and fields."""

    name: str  # plural API name: "contacts"
    singular: str  # "contact"
    model: type[DeclarativeBase]
    label: str
    title_fields: tuple[str, ...]
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    default_sort: tuple[str, ...] = ("-id",)

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)

    @property
    def search_table(self) -> str | None:
        return f"search_{self.table}" if self.table in SEARCHABLE_TABLES else None

    def writable_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields.values() if f.writable]


_TABLE_TO_OBJECT: dict[str, str] = {}
# Tables with a full-text index (created by migration 0002; keep the two lists in step).
SEARCHABLE_TABLES = frozenset({
    "accounts", "contacts", "leads", "opportunities", "activities", "tasks", "tickets",
    "products", "quotes", "custom_records", "users",
})


def _kind_of(column: Any) -> tuple[str, type]:
    meta = column.info
    col_type = column.type
    if column.foreign_keys:
        return KIND_REFERENCE, int
    if meta.get("enum"):
        return KIND_ENUM, str
    fmt = meta.get("format")
    if fmt in (KIND_EMAIL, KIND_PHONE, KIND_URL, KIND_CURRENCY):
        return fmt, str
    if isinstance(col_type, Boolean):
        return KIND_BOOLEAN, bool
    if isinstance(col_type, UtcDateTime):
        return KIND_DATETIME, datetime
    if isinstance(col_type, Date):
        return KIND_DATE, date
    if isinstance(col_type, Numeric):
        if meta.get("category") == "financial.amount":
            return KIND_MONEY, Decimal
        return KIND_NUMBER, Decimal
    if isinstance(col_type, Integer):
        return KIND_INTEGER, int
    if isinstance(col_type, String | Text):
        return KIND_TEXT, str
    return KIND_JSON, object


INT32_MAX = 2**31 - 1


def _is_int32(column: Any) -> bool:
    return isinstance(column.type, Integer) and not isinstance(column.type, BigInteger)


def _label(name: str) -> str:
    return name.removesuffix("_id").replace("_", " ").capitalize()


def _field_specs(model: type[DeclarativeBase]) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for column in model.__table__.columns:
        if column.name == "custom":
            continue
        meta = column.info
        kind, py_type = _kind_of(column)
        reference = None
        if column.foreign_keys:
            target_table = next(iter(column.foreign_keys)).column.table.name
            reference = _TABLE_TO_OBJECT.get(target_table, target_table)
        has_default = column.default is not None or column.server_default is not None
        max_length = getattr(column.type, "length", None)
        if kind == KIND_TEXT and max_length is None:
            max_length = 100_000
        specs[column.name] = FieldSpec(
            name=column.name,
            kind=kind,
            category=meta["category"],
            label=meta.get("label", _label(column.name)),
            nullable=bool(column.nullable),
            writable=meta.get("writable", True) and not column.primary_key,
            required=(
                not column.nullable
                and not has_default
                and not column.primary_key
                and not meta.get("auto")
            ),
            max_length=max_length,
            options=tuple(meta.get("enum", ())),
            reference=reference,
            # INTEGER columns are 32-bit on PostgreSQL: without declared bounds, the storage range
            minimum=meta.get("minimum", -INT32_MAX - 1 if _is_int32(column) else None),
            maximum=meta.get("maximum", INT32_MAX if _is_int32(column) else None),
            searchable=bool(meta.get("search")),
            python_type=py_type,
        )
    return specs


_DEFINITIONS: list[tuple[str, str, type[DeclarativeBase], str, tuple[str, ...]]] = [
    ("regions", "region", m.Region, "Regions", ("name",)),
    ("teams", "team", m.Team, "Teams", ("name",)),
    ("users", "user", User, "Users", ("name",)),
    ("accounts", "account", m.Account, "Accounts", ("name",)),
    ("contacts", "contact", m.Contact, "Contacts", ("first_name", "last_name")),
    ("leads", "lead", m.Lead, "Leads", ("first_name", "last_name")),
    ("pipelines", "pipeline", m.Pipeline, "Pipelines", ("name",)),
    ("pipeline_stages", "pipeline_stage", m.PipelineStage, "Pipeline stages", ("name",)),
    ("opportunities", "opportunity", m.Opportunity, "Opportunities", ("name",)),
    ("activities", "activity", m.Activity, "Activities", ("subject",)),
    ("tasks", "task", m.Task, "Tasks", ("title",)),
    ("tickets", "ticket", m.Ticket, "Tickets", ("subject",)),
    ("products", "product", m.Product, "Products", ("name",)),
    ("price_lists", "price_list", m.PriceList, "Price lists", ("name",)),
    ("price_list_items", "price_list_item", m.PriceListItem, "Price list items", ("id",)),
    ("quotes", "quote", m.Quote, "Quotes", ("number",)),
    ("quote_lines", "quote_line", m.QuoteLine, "Quote lines", ("description",)),
    ("custom_object_types", "custom_object_type", m.CustomObjectType, "Custom objects", ("label",)),
    ("custom_records", "custom_record", m.CustomRecord, "Custom records", ("name",)),
]

for _name, _singular, _model, _label_text, _titles in _DEFINITIONS:
    _TABLE_TO_OBJECT[_model.__tablename__] = _name

OBJECTS: dict[str, ObjectSpec] = {
    name: ObjectSpec(
        name=name,
        singular=singular,
        model=model,
        label=label,
        title_fields=titles,
        fields=_field_specs(model),
    )
    for name, singular, model, label, titles in _DEFINITIONS
}

# Objects served by the generic records API (users have their own endpoints; custom object
# types are schema, declared by administrators through /custom-objects).
API_OBJECTS = [
    name for name in OBJECTS if name not in ("users", "custom_records", "custom_object_types")
]
# Objects a sales or service user works with in the UI.
WORK_OBJECTS = ["accounts", "contacts", "leads", "opportunities", "activities", "tasks",
                "tickets", "products", "quotes"]


def get_object(name: str) -> ObjectSpec:
    from rapport.errors import NotFound

    spec = OBJECTS.get(name)
    if spec is None:
        raise NotFound(f"Unknown object '{name}'. Known objects: {', '.join(OBJECTS)}")
    return spec


def object_for_table(table: str) -> str:
    return _TABLE_TO_OBJECT.get(table, table)
