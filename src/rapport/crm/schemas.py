"""Pydantic models generated from the registry: create, update and read shapes per object."""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    create_model,
)

from rapport.crm.registry import (
    KIND_BOOLEAN,
    KIND_DATE,
    KIND_DATETIME,
    KIND_ENUM,
    KIND_INTEGER,
    KIND_JSON,
    KIND_MONEY,
    KIND_NUMBER,
    KIND_REFERENCE,
    OBJECTS,
    FieldSpec,
    ObjectSpec,
)

MAX_ID = 2**63 - 1
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def clean_text(value: str) -> str:
    """Refuse NUL bytes (PostgreSQL rejects them), drop zero-width marks, NFC-normalise."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    return unicodedata.normalize("NFC", value.translate(ZERO_WIDTH)).strip()


CleanStr = Annotated[str, AfterValidator(clean_text)]


class StrictInput(BaseModel):
    """Unknown fields are an error, so a typo is reported instead of silently ignored."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


def _annotation(spec: FieldSpec) -> Any:
    if spec.kind == KIND_ENUM:
        return Literal[tuple(spec.options)]
    if spec.kind == KIND_REFERENCE:
        return Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
    if spec.kind == KIND_BOOLEAN:
        return Annotated[bool, Field(strict=True)]
    if spec.kind == KIND_DATETIME:
        return AwareDatetime
    if spec.kind == KIND_DATE:
        return date
    if spec.kind in (KIND_MONEY, KIND_NUMBER):
        return Annotated[
            Decimal,
            Field(
                allow_inf_nan=False,
                max_digits=18,
                decimal_places=3 if spec.kind == KIND_NUMBER else 2,
                ge=spec.minimum,
                le=spec.maximum,
            ),
        ]
    if spec.kind == KIND_INTEGER:
        return Annotated[int, Field(ge=spec.minimum, le=spec.maximum, strict=True)]
    if spec.kind == KIND_JSON:
        return list[CleanStr]
    return Annotated[CleanStr, Field(max_length=spec.max_length)]


def _fields_for(spec: ObjectSpec, *, for_update: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for f in spec.writable_fields():
        annotation = _annotation(f)
        description = f"{f.label} ({f.kind}, category {f.category})"
        if f.reference:
            description += f"; id of a {f.reference} record"
        if f.required and not for_update:
            fields[f.name] = (annotation, Field(description=description))
        else:
            fields[f.name] = (annotation | None, Field(None, description=description))
    fields["custom"] = (
        dict[str, Any] | None,
        Field(None, description="Custom field values, keyed by custom field name."),
    )
    return fields


@cache
def create_model_for(object_name: str) -> type[BaseModel]:
    spec = OBJECTS[object_name]
    name = "".join(part.title() for part in spec.singular.split("_")) + "Create"
    return create_model(name, __base__=StrictInput, **_fields_for(spec, for_update=False))


@cache
def update_model_for(object_name: str) -> type[BaseModel]:
    spec = OBJECTS[object_name]
    name = "".join(part.title() for part in spec.singular.split("_")) + "Update"
    fields = _fields_for(spec, for_update=True)
    fields["version"] = (
        int | None,
        Field(None, description="Version you read; a mismatch answers 409 (no lost update)."),
    )
    return create_model(name, __base__=StrictInput, **fields)


@cache
def read_model_for(object_name: str) -> type[BaseModel]:
    spec = OBJECTS[object_name]
    name = "".join(part.title() for part in spec.singular.split("_"))
    fields: dict[str, Any] = {}
    for f in spec.fields.values():
        annotation = f.python_type if f.kind != KIND_JSON else Any
        fields[f.name] = (annotation | None, None)
    fields["custom"] = (dict[str, Any], Field(default_factory=dict))
    fields["title"] = (str, Field("", description="Display name of the record."))
    return create_model(name, **fields)
