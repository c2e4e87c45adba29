"""Custom objects and custom field definitions, served through the record service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.crm.custom_fields import check_definition, get_custom_object_type
from rapport.crm.models import CustomObjectType
from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS
from rapport.crm.service import Actor, Page, Record, RecordService
from rapport.db.uow import UnitOfWork
from rapport.errors import Conflict, NotFound


def list_fields(session: Session, records: RecordService, query: ListQuery) -> Page:
    """Definitions, optionally filtered by ``object_type:eq:<name>`` (not a registry object)."""
    from rapport.crm.models import CustomFieldDefinition

    stmt = select(CustomFieldDefinition)
    for flt in query.filters:
        if flt.field == "object_type" and flt.op == "eq":
            stmt = stmt.where(CustomFieldDefinition.object_type == flt.value)
    stmt = stmt.order_by(
        CustomFieldDefinition.object_type, CustomFieldDefinition.position, CustomFieldDefinition.id
    ).limit(max(1, query.limit))
    columns = CustomFieldDefinition.__table__.columns
    items = [
        Record("custom_field_definitions", row.id,
               {**{c.name: getattr(row, c.name) for c in columns}, "title": row.label})
        for row in session.scalars(stmt)
    ]
    return Page(items, None, len(items), False)


def define_field(uow: UnitOfWork, actor: Actor, values: dict[str, Any], *,
                 secret: str | None = None) -> dict[str, Any]:
    from rapport.crm.models import CustomFieldDefinition
    from rapport.crm.service import jsonable

    check_definition(uow.session, values, creating=True)
    row = CustomFieldDefinition(**{k: v for k, v in values.items() if v is not None}, custom={})
    uow.session.add(row)
    uow.session.flush()
    _log(uow, actor, "custom_field_definitions", row.id, values)
    _audit_config(uow, actor, secret, f"custom_field_definitions:{row.id}", {
        "object": "custom_field_definitions", "object_type": row.object_type, "field": row.name,
        "change": "created", "field_type": row.field_type, "required": bool(row.required)})
    return {c.name: jsonable(getattr(row, c.name)) for c in CustomFieldDefinition.__table__.columns}


def delete_field(uow: UnitOfWork, actor: Actor, field_id: int, *,
                 secret: str | None = None) -> None:
    from rapport.crm.models import CustomFieldDefinition

    row = uow.session.get(CustomFieldDefinition, field_id)
    if row is None:
        raise NotFound(f"No custom field with id {field_id}")
    uow.session.delete(row)
    _log(uow, actor, "custom_field_definitions", field_id, {"deleted": row.name})
    _audit_config(uow, actor, secret, f"custom_field_definitions:{field_id}", {
        "object": "custom_field_definitions", "object_type": row.object_type, "field": row.name,
        "change": "deleted"})


def _audit_config(uow: UnitOfWork, actor: Actor, secret: str | None, target: str,
                  details: dict[str, Any]) -> None:
    """A schema change goes to the audit log (names and kinds only, never values)."""
    from rapport.trust import audit

    if secret is None:  # callers that predate auditing; the deployment's key all the same
        from rapport.config import get_settings

        secret = get_settings().secret_key
    audit.append(uow.session, secret, "config_changed", actor=audit.actor_ref(actor.user_id),
                 target=target, network=actor.network, details=details)


def _log(uow: UnitOfWork, actor: Actor, object_type: str, record_id: int, values: dict[str, Any]) -> None:
    from rapport.crm.changes import ChangeRecord

    uow.session.add(
        ChangeRecord(
            object_type=object_type, record_id=record_id, action="updated",
            changes={k: [None, v] for k, v in values.items() if isinstance(v, str | int | bool | list)},
            actor_user_id=actor.user_id, source=actor.source,
        )
    )


def list_object_types(session: Session) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "name": c.name, "label": c.label, "label_plural": c.label_plural,
         "description": c.description}
        for c in session.scalars(select(CustomObjectType).order_by(CustomObjectType.name))
    ]


def define_object(uow: UnitOfWork, actor: Actor, values: dict[str, Any], *,
                  secret: str | None = None) -> dict[str, Any]:
    if values["name"] in OBJECTS:
        raise Conflict(f"'{values['name']}' is a built-in object")
    if uow.session.scalar(select(CustomObjectType.id).where(CustomObjectType.name == values["name"])):
        raise Conflict(f"A custom object named '{values['name']}' already exists")
    row = CustomObjectType(**values, custom={})
    uow.session.add(row)
    uow.session.flush()
    _log(uow, actor, "custom_object_types", row.id, values)
    _audit_config(uow, actor, secret, f"custom_object_types:{row.id}", {
        "object": "custom_object_types", "name": row.name, "change": "created"})
    return {"id": row.id, **values}


def list_records(
    session: Session, records: RecordService, name: str, query: ListQuery, *, actor: Actor
) -> Page:
    type_id = get_custom_object_type(session, name).id
    query.filters = [*query.filters, Filter("object_type_id", "eq", str(type_id))]
    return records.list(session, "custom_records", query, actor=actor, field_scope=name)


def get_record(
    session: Session, records: RecordService, name: str, record_id: int, *, actor: Actor
) -> Record:
    type_id = get_custom_object_type(session, name).id
    record = records.get(session, "custom_records", record_id, actor=actor)
    if record.values["object_type_id"] != type_id:
        raise NotFound(f"No {name} record with id {record_id}")
    return record


def create_record(
    uow: UnitOfWork, actor: Actor, records: RecordService, name: str, data: dict[str, Any]
) -> Record:
    type_id = get_custom_object_type(uow.session, name).id
    return records.create(
        uow, actor, "custom_records", data, field_scope=name,
        fixed_values={"object_type_id": type_id},
    )


def update_record(
    uow: UnitOfWork, actor: Actor, records: RecordService, name: str, record_id: int,
    data: dict[str, Any],
) -> Record:
    get_record(uow.session, records, name, record_id, actor=actor)
    version = data.pop("version", None)
    return records.update(uow, actor, "custom_records", record_id, data, version, field_scope=name)


def delete_record(
    uow: UnitOfWork, actor: Actor, records: RecordService, name: str, record_id: int
) -> None:
    get_record(uow.session, records, name, record_id, actor=actor)
    records.delete(uow, actor, "custom_records", record_id)
