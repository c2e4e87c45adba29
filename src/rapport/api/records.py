"""Generic CRUD, list, bulk and schema routes for every object in the registry.

No ``from __future__ import annotations`` here: route signatures use generated models.
"""

from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO, cast

from fastapi import APIRouter, Header, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response, StreamingResponse

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.idempotency import run_idempotent
from rapport.api.responses import JSONResponse
from rapport.bootstrap import Container
from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import API_OBJECTS, OBJECTS
from rapport.crm.schemas import MAX_ID, create_model_for, update_model_for
from rapport.crm.service import Actor, Page, Record

router = APIRouter()

FilterParam = Annotated[
    list[str] | None,
    Query(
        alias="filter",
        description="field:operator:value, repeatable. Operators: eq, ne, lt, lte, gt, gte, "
        "in (a,b,c), contains, is_null (true/false), between (low,high). Custom fields by name.",
    ),
]
SortParam = Annotated[
    str | None, Query(description="Comma-separated fields; '-' for descending, e.g. -amount,name")
]
SearchParam = Annotated[
    str | None, Query(max_length=200, description="Full-text search over names, emails, phones, notes")
]
CursorParam = Annotated[str | None, Query(max_length=2000, description="next_cursor of the previous page")]
LimitParam = Annotated[int, Query(ge=1, le=200, description="Page size")]
IfMatch = Annotated[
    str | None, Header(description="Version you read (ETag); a mismatch answers 409")
]
RecordId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="Record id (a positive 64-bit integer)")
]
IdemKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Retry-safe key; replays the first answer")
]


class ListPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(None, description="Pass as cursor= for the next page")
    count: int = Field(description="Matching records, capped (see count_capped)")
    count_capped: bool = Field(description="True when there are more than count matches")


class BulkBody(BaseModel):
    records: list[dict[str, Any]] = Field(
        description="Records to write; those with an id are updated, the others created",
        max_length=1000,
    )
    upsert_on: str | None = Field(
        None, description="Update instead of create when this key (e.g. external_id) exists"
    )


class BulkAnswer(BaseModel):
    created: list[int]
    updated: list[int]


def record_json(record: Record) -> dict[str, Any]:
    """The record's values; ``_masked`` lists fields shown masked (reveal them explicitly)."""
    if record.masked:
        return {**record.values, "_masked": list(record.masked)}
    return record.values


def page_json(page: Page) -> dict[str, Any]:
    return {
        "items": [record_json(r) for r in page.items],
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_capped": page.count_capped,
    }


def parse_list_query(
    filters: list[str] | None, sort: str | None, q: str | None, cursor: str | None, limit: int
) -> ListQuery:
    return ListQuery(
        filters=[Filter.parse(f) for f in filters or []],
        sort=[s.strip() for s in (sort or "").split(",") if s.strip()],
        q=q,
        limit=limit,
        cursor=cursor,
    )


def _version(if_match: str | None) -> int | None:
    if not if_match:
        return None
    from rapport.errors import ValidationFailed

    raw = if_match.strip().removeprefix("W/").strip('"')
    if raw == "*":  # any current version (RFC 9110)
        return None
    if not raw.isdigit():
        raise ValidationFailed("If-Match must be the record version, e.g. \"3\"")
    return int(raw)


def export_response(container: Container, actor: Actor, name: str, filters: list[str],
                    sort: str | None, columns: str | None) -> Response:
    """Stream a CSV export as the actor may see it; the export is audited.

    The file is written to a temporary spool first (constant memory), so a refusal (no
    export right, a bad filter, the anomaly lock) answers a clean 4xx instead of a cut file.
    """
    import tempfile

    from rapport.crm.exporter import export_csv
    from rapport.trust import audit

    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - streamed below
    with container.uow() as uow:
        count = export_csv(
            uow.session, name, cast(BinaryIO, spool), filters=filters,
            sort=[s.strip() for s in (sort or "").split(",") if s.strip()],
            columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
            actor=actor, settings=container.settings)
        audit.append(uow.session, container.settings.secret_key, "export",
                     actor=audit.actor_ref(actor.user_id), network=actor.network,
                     details={"object": name, "count": count, "filters": len(filters)})
        uow.commit()
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while block := spool.read(64 * 1024):
                yield block
        finally:
            spool.close()

    return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}.csv"', "X-Row-Count": str(count)})


def _add_routes(name: str) -> None:
    spec = OBJECTS[name]
    create_model = create_model_for(name)
    update_model = update_model_for(name)
    tag = spec.label
    noun = ("an " if spec.singular[0] in "aeiou" else "a ") + spec.singular.replace("_", " ")

    @router.get(f"/{name}", tags=[tag], summary=f"List {spec.label.lower()}",
                response_model=ListPage, name=f"list_{name}")
    def list_records(
        session: SessionDep,
        container: ContainerDep,
        actor: ActorDep,
        filters: FilterParam = None,
        sort: SortParam = None,
        q: SearchParam = None,
        cursor: CursorParam = None,
        limit: LimitParam = 50,
    ) -> Response:
        query = parse_list_query(filters, sort, q, cursor, limit)
        return JSONResponse(page_json(container.records.list(session, name, query, actor=actor)))

    @router.post(f"/{name}", tags=[tag], summary=f"Create {noun}",
                 status_code=201, name=f"create_{name}")
    def create_record(
        body: create_model,  # type: ignore[valid-type]
        container: ContainerDep,
        actor: ActorDep,
        idempotency_key: IdemKey = None,
    ) -> Response:
        data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        with container.uow() as uow:
            return run_idempotent(
                uow, actor.user_id or 0, idempotency_key, [name, data],
                lambda: (201, record_json(container.records.create(uow, actor, name, data))),
                container.settings.idempotency_hours,
            )

    @router.post(f"/{name}/bulk", tags=[tag], summary=f"Create or update up to 1,000 {spec.label.lower()}",
                 response_model=BulkAnswer, name=f"bulk_{name}")
    def bulk_records(
        body: BulkBody,
        container: ContainerDep,
        actor: ActorDep,
        idempotency_key: IdemKey = None,
    ) -> Response:
        with container.uow() as uow:
            def run() -> tuple[int, Any]:
                result = container.records.bulk_write(
                    uow, actor, name, body.records, upsert_on=body.upsert_on
                )
                return 200, {"created": result.created, "updated": result.updated}

            return run_idempotent(
                uow, actor.user_id or 0, idempotency_key, [name, "bulk", body.model_dump()],
                run, container.settings.idempotency_hours,
            )

    @router.get(f"/{name}/export", tags=[tag], summary=f"Export {spec.label.lower()} as CSV",
                name=f"export_{name}", response_class=StreamingResponse)
    def export_records(
        container: ContainerDep,
        actor: ActorDep,
        filters: FilterParam = None,
        sort: SortParam = None,
        columns: Annotated[str | None, Query(max_length=2000,
                                             description="Comma-separated field names")] = None,
    ) -> Response:
        return export_response(container, actor, name, filters or [], sort, columns)

    @router.get(f"/{name}/{{record_id}}", tags=[tag], summary=f"Read {noun}",
                name=f"get_{name}")
    def get_record(record_id: RecordId, session: SessionDep, container: ContainerDep, actor: ActorDep) -> Response:
        record = container.records.get(session, name, record_id, actor=actor)
        return JSONResponse(record_json(record), headers={"ETag": f'"{record.version}"'})

    @router.patch(f"/{name}/{{record_id}}", tags=[tag], summary=f"Update {noun}",
                  name=f"update_{name}")
    def update_record(
        record_id: RecordId,
        body: update_model,  # type: ignore[valid-type]
        container: ContainerDep,
        actor: ActorDep,
        if_match: IfMatch = None,
    ) -> Response:
        data = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        expected = data.pop("version", None) or _version(if_match)
        with container.uow() as uow:
            record = container.records.update(uow, actor, name, record_id, data, expected)
            uow.commit()
        return JSONResponse(record_json(record), headers={"ETag": f'"{record.version}"'})

    @router.delete(f"/{name}/{{record_id}}", tags=[tag], status_code=204,
                   summary=f"Delete {noun}", name=f"delete_{name}")
    def delete_record(
        record_id: RecordId, container: ContainerDep, actor: ActorDep, if_match: IfMatch = None
    ) -> Response:
        with container.uow() as uow:
            container.records.delete(uow, actor, name, record_id, _version(if_match))
            uow.commit()
        return Response(status_code=204)

    @router.get(f"/{name}/{{record_id}}/timeline", tags=[tag],
                summary="Activities and changes of the record, newest first", name=f"timeline_{name}")
    def record_timeline(
        record_id: RecordId,
        session: SessionDep,
        container: ContainerDep,
        actor: ActorDep,
        limit: LimitParam = 50,
        before: Annotated[str | None, Query(description="Cursor from the previous page")] = None,
    ) -> Response:
        return JSONResponse(container.records.timeline(
            session, name, record_id, actor=actor, limit=limit, before=before))

    del list_records, create_record, bulk_records, get_record, update_record, delete_record
    del export_records
    del record_timeline

for _name in API_OBJECTS:
    _add_routes(_name)
