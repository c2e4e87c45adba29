"""JSON Schema of an object: its standard fields plus its custom fields."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rapport.crm.custom_fields import custom_field_specs, get_custom_object_type
from rapport.crm.registry import OBJECTS, FieldSpec
from rapport.crm.schemas import create_model_for

_TYPES: dict[str, dict[str, Any]] = {
    "text": {"type": "string"},
    "number": {"type": "number"},
    "money": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "boolean": {"type": "boolean"},
    "email": {"type": "string", "format": "email"},
    "phone": {"type": "string", "description": "E.164 after normalisation"},
    "url": {"type": "string", "format": "uri"},
    "reference": {"type": "integer", "minimum": 1},
}


def custom_field_schema(spec: FieldSpec) -> dict[str, Any]:
    if spec.kind == "enum":
        schema: dict[str, Any] = {"type": "string", "enum": list(spec.options)}
    elif spec.kind == "multi_enum":
        schema = {"type": "array", "items": {"type": "string", "enum": list(spec.options)}}
    else:
        schema = dict(_TYPES.get(spec.kind, {"type": "string"}))
    if spec.max_length and spec.kind == "text":
        schema["maxLength"] = spec.max_length
    schema["title"] = spec.label
    schema["x-category"] = spec.category
    schema["x-field-type"] = spec.kind
    if spec.reference:
        schema["x-reference"] = spec.reference
    return schema


def object_schema(session: Session, object_name: str) -> dict[str, Any]:
    if object_name in OBJECTS:
        schema = create_model_for(object_name).model_json_schema()
        spec = OBJECTS[object_name]
        for name, prop in schema.get("properties", {}).items():
            if name in spec.fields:
                prop["x-category"] = spec.fields[name].category
                prop["x-field-type"] = spec.fields[name].kind
                if spec.fields[name].reference:
                    prop["x-reference"] = spec.fields[name].reference
    else:
        custom_type = get_custom_object_type(session, object_name)
        schema = {
            "title": custom_type.label,
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 200, "x-category": "custom.name"}},
            "required": ["name"],
        }
    custom = custom_field_specs(session, object_name)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("properties", {})["custom"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: custom_field_schema(f) for name, f in custom.items()},
        "required": [name for name, f in custom.items() if f.required],
    }
    return schema
