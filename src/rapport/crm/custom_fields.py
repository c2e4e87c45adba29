"""Custom fields and custom objects declared at run time, validated on every write."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.crm.models import CustomFieldDefinition, CustomObjectType
from rapport.crm.normalise import normalise_email, normalise_phone, normalise_url
from rapport.crm.registry import (
    KIND_BOOLEAN,
    KIND_DATE,
    KIND_DATETIME,
    KIND_EMAIL,
    KIND_ENUM,
    KIND_MONEY,
    KIND_MULTI_ENUM,
    KIND_NUMBER,
    KIND_PHONE,
    KIND_REFERENCE,
    KIND_TEXT,
    KIND_URL,
    OBJECTS,
    FieldSpec,
)
from rapport.crm.schemas import MAX_ID, clean_text
from rapport.errors import Conflict, ErrorCollector, NotFound

FIELD_TYPES = (
    KIND_TEXT, KIND_NUMBER, KIND_MONEY, KIND_DATE, KIND_DATETIME, KIND_BOOLEAN, KIND_ENUM,
    KIND_MULTI_ENUM, KIND_EMAIL, KIND_PHONE, KIND_URL, KIND_REFERENCE,
)
DEFAULT_CATEGORY = {
    KIND_EMAIL: "contact.email",
    KIND_PHONE: "contact.phone",
    KIND_MONEY: "financial.amount",
    KIND_URL: "organization.website",
    KIND_REFERENCE: "system.reference",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_EXACT_FLOAT = 2**53  # custom numbers are stored as JSON floats: exact up to here
RESERVED = {"id", "custom", "version", "created_at", "updated_at", "title"}


def known_object_types(session: Session) -> set[str]:
    custom = set(session.scalars(select(CustomObjectType.name)))
    return {*OBJECTS, *custom}


def to_field_spec(definition: CustomFieldDefinition) -> FieldSpec:
    return FieldSpec(
        name=definition.name,
        kind=definition.field_type,
        category=definition.category,
        label=definition.label,
        nullable=not definition.required,
        required=definition.required,
        max_length=definition.max_length or (1000 if definition.field_type == KIND_TEXT else None),
        options=tuple(definition.options or ()),
        reference=definition.reference_object,
        searchable=definition.field_type in (KIND_TEXT, KIND_EMAIL, KIND_PHONE),
        custom=True,
    )


def custom_field_specs(session: Session, object_type: str) -> dict[str, FieldSpec]:
    rows = session.scalars(
        select(CustomFieldDefinition)
        .where(CustomFieldDefinition.object_type == object_type)
        .order_by(CustomFieldDefinition.position, CustomFieldDefinition.id)
    )
    return {row.name: to_field_spec(row) for row in rows}


def check_definition(session: Session, values: dict[str, Any], *, creating: bool) -> None:
    """Refuse a definition that could not be enforced (unknown type, clashing name...)."""
    errors = ErrorCollector()
    object_type = values.get("object_type")
    name = values.get("name")
    field_type = values.get("field_type")
    if creating:
        if object_type not in known_object_types(session):
            errors.add("object_type", f"unknown object '{object_type}'")
        if not name or not _NAME.match(name):
            errors.add("name", "use lower-case letters, digits and _ (start with a letter)")
        elif name in RESERVED or (object_type in OBJECTS and name in OBJECTS[object_type].fields):
            errors.add("name", f"'{name}' is already a standard field of {object_type}")
    if field_type not in FIELD_TYPES:
        errors.add("field_type", f"use one of: {', '.join(FIELD_TYPES)}")
    if field_type in (KIND_ENUM, KIND_MULTI_ENUM) and not values.get("options"):
        errors.add("options", "enum and multi_enum fields need a list of options")
    if field_type == KIND_REFERENCE:
        target = values.get("reference_object")
        if target not in known_object_types(session):
            errors.add("reference_object", f"unknown object '{target}'")
    if not values.get("category"):
        values["category"] = DEFAULT_CATEGORY.get(str(field_type), "custom")
    errors.raise_if_any("The custom field definition is invalid")
    if creating:
        clash = session.scalar(
            select(CustomFieldDefinition.id).where(
                CustomFieldDefinition.object_type == object_type,
                CustomFieldDefinition.name == name,
            )
        )
        if clash:
            raise Conflict(f"{object_type} already has a custom field named '{name}'")


def _coerce(spec: FieldSpec, value: Any, default_region: str) -> Any:
    kind = spec.kind
    if kind == KIND_TEXT:
        if not isinstance(value, str):
            raise ValueError("expected text")
        cleaned = clean_text(value)
        if spec.max_length and len(cleaned) > spec.max_length:
            raise ValueError(f"at most {spec.max_length} characters")
        return cleaned
    if kind in (KIND_NUMBER, KIND_MONEY):
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError("expected a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError("expected a number") from exc
        if not number.is_finite():
            raise ValueError("expected a finite number")
        if abs(number) > MAX_EXACT_FLOAT:
            raise ValueError(f"numbers beyond ±{MAX_EXACT_FLOAT} lose precision; store it as text")
        return float(number)
    if kind == KIND_BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if kind == KIND_DATE:
        if not isinstance(value, str):
            raise ValueError("expected a date like 2026-01-31")
        return date.fromisoformat(value).isoformat()
    if kind == KIND_DATETIME:
        if not isinstance(value, str):
            raise ValueError("expected a date-time like 2026-01-31T09:00:00+08:00")
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("a timezone offset is required (e.g. +08:00 or Z)")
        return parsed.astimezone(UTC).isoformat()  # stored in UTC so text order is time order
    if kind == KIND_ENUM:
        if value not in spec.options:
            raise ValueError(f"allowed values: {', '.join(spec.options)}")
        return value
    if kind == KIND_MULTI_ENUM:
        if not isinstance(value, list) or any(v not in spec.options for v in value):
            raise ValueError(f"expected a list drawn from: {', '.join(spec.options)}")
        return sorted(set(value))
    if kind == KIND_EMAIL:
        if not isinstance(value, str):
            raise ValueError("expected an email address as text")
        return normalise_email(clean_text(value))
    if kind == KIND_PHONE:
        if not isinstance(value, str):
            raise ValueError("send phone numbers as strings, e.g. \"+86 138 0013 8000\"")
        return normalise_phone(clean_text(value), default_region)
    if kind == KIND_URL:
        if not isinstance(value, str):
            raise ValueError("expected a URL as text")
        return normalise_url(clean_text(value))
    if kind == KIND_REFERENCE:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise ValueError("expected a record id (positive integer)")
        return value
    raise ValueError(f"unsupported field type {kind}")


def validate_custom_values(
    specs: dict[str, FieldSpec],
    incoming: dict[str, Any] | None,
    current: dict[str, Any] | None,
    errors: ErrorCollector,
    default_region: str,
    *,
    prefix: str = "custom",
) -> dict[str, Any]:
    """Merge ``incoming`` into ``current`` and check every value; ``None`` clears a field."""
    merged = dict(current or {})
    for key, value in (incoming or {}).items():
        spec = specs.get(key)
        if spec is None:
            known = ", ".join(specs) or "none defined"
            errors.add(f"{prefix}.{key}", f"unknown custom field (known: {known})", "unknown_field")
            continue
        if value is None:
            merged.pop(key, None)
            continue
        try:
            merged[key] = _coerce(spec, value, default_region)
        except ValueError as exc:
            errors.add(f"{prefix}.{key}", str(exc))
    for spec in specs.values():
        if spec.required and merged.get(spec.name) in (None, "", []):
            errors.add(f"{prefix}.{spec.name}", "this custom field is required", "required")
    return merged


def get_custom_object_type(session: Session, name: str) -> CustomObjectType:
    row = session.scalar(select(CustomObjectType).where(CustomObjectType.name == name))
    if row is None:
        raise NotFound(f"No custom object named '{name}'")
    return row
