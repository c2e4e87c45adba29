"""Schema, custom fields, custom objects, lead conversion, search, board and the caller."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, CurrentUser, SessionDep
from rapport.api.idempotency import run_idempotent
from rapport.api.records import RecordId, page_json, parse_list_query, record_json
from rapport.api.responses import JSONResponse
from rapport.crm import custom_objects
from rapport.crm.board import pipeline_board
from rapport.crm.custom_fields import FIELD_TYPES
from rapport.crm.json_schema import object_schema
from rapport.crm.leads import convert_lead
from rapport.crm.query import ListQuery
from rapport.crm.registry import OBJECTS, WORK_OBJECTS
from rapport.crm.schemas import MAX_ID
from rapport.errors import Forbidden

router = APIRouter()


class CustomFieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_type: str = Field(max_length=60, description="contacts, accounts, ... or a custom object")
    name: str = Field(max_length=60, description="snake_case key used in the custom object")
    label: str = Field(max_length=100)
    field_type: Literal[FIELD_TYPES] = Field(description="Field type")  # type: ignore[valid-type]
    category: str | None = Field(None, max_length=60, description="Data category, e.g. contact.phone")
    required: bool = False
    options: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=200)
    reference_object: str | None = Field(None, max_length=60)
    max_length: int | None = Field(None, ge=1, le=100_000)
    currency: str | None = Field(None, max_length=3)
    position: int = Field(0, ge=0, le=10_000)


class CustomObjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=60, pattern=r"^[a-z][a-z0-9_]{0,59}$")
    label: str = Field(max_length=100)
    label_plural: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=2000)


class CustomRecordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    owner_id: int | None = Field(None, ge=1, le=MAX_ID)
    custom: dict[str, Any] | None = None


class CustomRecordUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    owner_id: int | None = Field(None, ge=1, le=MAX_ID)
    custom: dict[str, Any] | None = None
    version: int | None = None


class ConvertLeadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Attach to this account instead of creating one"
    )
    create_opportunity: bool = True
    opportunity_name: str | None = Field(None, max_length=200)
    amount: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=2, allow_inf_nan=False)
    pipeline_id: int | None = Field(None, ge=1, le=MAX_ID)


def _require_admin(actor: Any) -> None:
    if not actor.can("schema.manage"):
        raise Forbidden("Only administrators can change the schema")


@router.get("/schema", tags=["Schema"], summary="Objects and their fields")
def list_objects(session: SessionDep, user: CurrentUser) -> Response:
    from rapport.crm.models import CustomObjectType

    custom = [
        {"name": c.name, "label": c.label, "custom": True}
        for c in session.scalars(select(CustomObjectType).order_by(CustomObjectType.name))
    ]
    builtin = [{"name": n, "label": OBJECTS[n].label, "custom": False} for n in OBJECTS]
    return JSONResponse({"objects": builtin + custom})


@router.get("/schema/{object_name}", tags=["Schema"], summary="JSON Schema of an object")
def get_object_schema(object_name: str, session: SessionDep, user: CurrentUser) -> Response:
    return JSONResponse(object_schema(session, object_name), media_type="application/schema+json")


@router.get("/custom-fields", tags=["Schema"], summary="List custom field definitions")
def list_custom_fields(
    container: ContainerDep, session: SessionDep, user: CurrentUser,
    object_type: Annotated[str | None, Query(max_length=60)] = None,
) -> Response:
    query = ListQuery(filters=[], sort=["object_type", "position"], limit=200)
    if object_type:
        from rapport.crm.query import Filter

        query.filters.append(Filter("object_type", "eq", object_type))
    return JSONResponse(page_json(custom_objects.list_fields(session, container.records, query)))


@router.post("/custom-fields", tags=["Schema"], status_code=201, summary="Declare a custom field")
def create_custom_field(body: CustomFieldIn, container: ContainerDep, actor: ActorDep) -> Response:
    _require_admin(actor)
    with container.uow() as uow:
        created = custom_objects.define_field(uow, actor, body.model_dump())
        uow.commit()
    return JSONResponse(created, status_code=201)


@router.delete("/custom-fields/{field_id}", tags=["Schema"], status_code=204,
               summary="Remove a custom field definition (values stay in history)")
def delete_custom_field(field_id: RecordId, container: ContainerDep, actor: ActorDep) -> Response:
    _require_admin(actor)
    with container.uow() as uow:
        custom_objects.delete_field(uow, actor, field_id)
        uow.commit()
    return Response(status_code=204)


@router.get("/custom-objects", tags=["Custom objects"], summary="List custom objects")
def list_custom_objects(session: SessionDep, user: CurrentUser) -> Response:
    return JSONResponse({"items": custom_objects.list_object_types(session)})


@router.post("/custom-objects", tags=["Custom objects"], status_code=201,
             summary="Declare a custom object")
def create_custom_object(body: CustomObjectIn, container: ContainerDep, actor: ActorDep) -> Response:
    _require_admin(actor)
    with container.uow() as uow:
        created = custom_objects.define_object(uow, actor, body.model_dump())
        uow.commit()
    return JSONResponse(created, status_code=201)


@router.get("/custom-objects/{object_name}/records", tags=["Custom objects"],
            summary="List records of a custom object")
def list_custom_records(
    object_name: str,
    container: ContainerDep,
    session: SessionDep,
    actor: ActorDep,
    filters: Annotated[list[str] | None, Query(alias="filter")] = None,
    sort: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    query = parse_list_query(filters, sort, q, cursor, limit)
    page = custom_objects.list_records(session, container.records, object_name, query, actor=actor)
    return JSONResponse(page_json(page))


@router.post("/custom-objects/{object_name}/records", tags=["Custom objects"], status_code=201,
             summary="Create a record of a custom object")
def create_custom_record(
    object_name: str, body: CustomRecordIn, container: ContainerDep, actor: ActorDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    data = body.model_dump(exclude_unset=True)
    with container.uow() as uow:
        return run_idempotent(
            uow, actor.user_id or 0, idempotency_key, [object_name, data],
            lambda: (201, record_json(custom_objects.create_record(uow, actor, container.records, object_name, data))),
            container.settings.idempotency_hours,
        )


@router.get("/custom-objects/{object_name}/records/{record_id}", tags=["Custom objects"],
            summary="Read a custom record")
def get_custom_record(object_name: str, record_id: RecordId, container: ContainerDep,
                      session: SessionDep, actor: ActorDep) -> Response:
    record = custom_objects.get_record(session, container.records, object_name, record_id, actor=actor)
    return JSONResponse(record_json(record))


@router.patch("/custom-objects/{object_name}/records/{record_id}", tags=["Custom objects"],
              summary="Update a custom record")
def update_custom_record(object_name: str, record_id: RecordId, body: CustomRecordUpdate,
                         container: ContainerDep, actor: ActorDep) -> Response:
    data = body.model_dump(exclude_unset=True)
    with container.uow() as uow:
        record = custom_objects.update_record(uow, actor, container.records, object_name, record_id, data)
        uow.commit()
    return JSONResponse(record_json(record))


@router.delete("/custom-objects/{object_name}/records/{record_id}", tags=["Custom objects"],
               status_code=204, summary="Delete a custom record")
def delete_custom_record(object_name: str, record_id: RecordId, container: ContainerDep,
                         actor: ActorDep) -> Response:
    with container.uow() as uow:
        custom_objects.delete_record(uow, actor, container.records, object_name, record_id)
        uow.commit()
    return Response(status_code=204)


@router.post("/leads/{lead_id}/convert", tags=["Leads"],
             summary="Convert a lead into contact + account (+ opportunity) in one step")
def convert(lead_id: RecordId, body: ConvertLeadIn, container: ContainerDep, actor: ActorDep) -> Response:
    with container.uow() as uow:
        result = convert_lead(uow, actor, container.records, lead_id, **body.model_dump())
        uow.commit()
    return JSONResponse(result.__dict__)


@router.get("/pipelines/{pipeline_id}/board", tags=["Pipelines"],
            summary="Opportunities of a pipeline grouped by stage, with totals")
def board(
    pipeline_id: RecordId, container: ContainerDep, session: SessionDep, actor: ActorDep,
    per_stage: Annotated[int, Query(ge=1, le=200)] = 50,
    filters: Annotated[list[str] | None, Query(alias="filter")] = None,
) -> Response:
    return JSONResponse(pipeline_board(session, container.records, pipeline_id, per_stage,
                                       filters or [], actor=actor))


@router.get("/search", tags=["Search"], summary="Search every object at once")
def search_all(
    q: Annotated[str, Query(min_length=1, max_length=200)],
    container: ContainerDep, session: SessionDep, actor: ActorDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> Response:
    results: dict[str, Any] = {}
    for name in WORK_OBJECTS:
        if OBJECTS[name].search_table is None or not actor.access.allows(name, "read"):
            continue
        page = container.records.list(session, name, ListQuery(q=q, limit=limit), actor=actor)
        if page.items:
            results[name] = {
                "count": page.count, "count_capped": page.count_capped,
                "items": [{"id": r.id, "title": r.values["title"]} for r in page.items],
            }
    return JSONResponse({"query": q, "results": results})


@router.get("/me", tags=["Auth"], summary="The authenticated user")
def me(user: CurrentUser) -> Response:
    fields = ("user_id", "email", "name", "is_admin", "locale", "timezone", "team_id", "region_id")
    return JSONResponse({
        **{name: getattr(user, name) for name in fields},
        "roles": list(user.policy.roles),
        "capabilities": sorted(user.policy.capabilities) if not user.policy.admin else ["*"],
        "can_reveal": user.policy.can_reveal,
    })
