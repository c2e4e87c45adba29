"""Data-subject requests: access bundles and erasure (issue 3).

Every route needs the ``privacy.manage`` capability. The person is named by record
(``contacts:12``), e-mail or phone when the request is opened; the request then keeps only
the record reference and a pseudonym. Access bundles are built on demand, never stored.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.responses import JSONResponse
from rapport.trust import dsr
from rapport.trust.actor import Actor

router = APIRouter(tags=["Privacy requests"])

RequestId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Privacy request id")]


def _require(actor: Actor) -> None:
    actor.require("privacy.manage", "handling privacy requests")


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["access", "erasure"] = Field(description="access (a copy of the data) or erasure")
    law: Literal["gdpr", "ccpa", "pipl"] = Field(
        "gdpr", description="Sets the deadline: GDPR 30 days, CCPA 45, PIPL 15")
    subject: str | None = Field(None, max_length=80, description="The record, e.g. contacts:12")
    email: str | None = Field(None, max_length=320, description="Or find the person by e-mail")
    phone: str | None = Field(None, max_length=60, description="Or find the person by phone")
    received_on: date | None = Field(
        None, description="When the request arrived (default today); the deadline counts from it")
    notes: str | None = Field(None, max_length=dsr.MAX_NOTES,
                              description="Case notes (how identity was verified...); no personal data")


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(max_length=500, description="Why (identity not verified, ...)")


def _with_holdings(session: SessionDep, container: ContainerDep, info: dsr.RequestInfo) -> dict[str, object]:
    body: dict[str, object] = info.as_json()
    held = dsr.holdings(session, container.settings, info)
    body["holdings"] = None if held is None else {"records": held.records, "stores": held.counts}
    return body


@router.post("/privacy/requests", status_code=201, summary="Open a data-subject request")
def create_request(body: RequestIn, container: ContainerDep, actor: ActorDep) -> Response:
    _require(actor)
    with container.uow() as uow:
        info = dsr.create_request(
            uow.session, container.settings, actor, kind=body.kind, law=body.law,
            subject=body.subject, email=body.email, phone=body.phone,
            received_on=body.received_on, notes=body.notes,
        )
        uow.commit()
    return JSONResponse(info.as_json(), status_code=201)


@router.get("/privacy/requests", summary="List data-subject requests with their deadlines")
def list_requests(
    session: SessionDep,
    actor: ActorDep,
    status: Annotated[Literal["received", "in_progress", "completed", "rejected"] | None,
                      Query(description="Only requests in this status")] = None,
    kind: Annotated[Literal["access", "erasure"] | None, Query(description="access or erasure")] = None,
    overdue: Annotated[bool | None, Query(description="true: open and past the deadline")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Requests to skip")] = 0,
) -> Response:
    _require(actor)
    items = dsr.list_requests(session, status=status, kind=kind, overdue=overdue, limit=limit,
                              offset=offset)
    return JSONResponse({"items": [i.as_json() for i in items]})


@router.get("/privacy/requests/{request_id}", summary="Read a data-subject request and what is held")
def get_request(request_id: RequestId, session: SessionDep, container: ContainerDep,
                actor: ActorDep) -> Response:
    _require(actor)
    info = dsr.get_request(session, request_id)
    return JSONResponse(_with_holdings(session, container, info))


@router.post("/privacy/requests/{request_id}/run",
             summary="Answer a request: mark an access request answered, or erase the person")
def run_request(request_id: RequestId, container: ContainerDep, actor: ActorDep,
                background: BackgroundTasks) -> Response:
    _require(actor)
    run = dsr.run_request(container, actor, request_id, maintenance=False)
    if run.info.kind == "erasure" and run.info.status == "completed":
        background.add_task(dsr.maintain, container, request_id, run.touched_tables)
    return JSONResponse(run.info.as_json())


@router.get("/privacy/requests/{request_id}/bundle",
            summary="Download the access bundle (ZIP: JSON and one CSV per store)",
            response_class=Response,
            responses={200: {"content": {"application/zip": {}}}})
def download_bundle(request_id: RequestId, container: ContainerDep, actor: ActorDep) -> Response:
    _require(actor)
    bundle = dsr.download_bundle(container, actor, request_id)
    return Response(bundle.content, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{bundle.filename}"',
        "Cache-Control": "no-store",
    })


@router.post("/privacy/requests/{request_id}/reject", summary="Reject a data-subject request")
def reject_request(request_id: RequestId, body: RejectIn, container: ContainerDep,
                   actor: ActorDep) -> Response:
    _require(actor)
    with container.uow() as uow:
        info = dsr.reject_request(uow.session, container.settings, actor, request_id, body.reason)
        uow.commit()
    return JSONResponse(info.as_json())
