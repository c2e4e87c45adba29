"""Consent records per person and purpose (issue 3): history, state, decisions, audiences.

Permissions: reading a person's consent needs ``consent.manage`` or the read right on the
person's object; recording needs ``consent.manage`` or the update right. Without
``consent.manage`` the person must also be within the caller's record scope (otherwise the
answer is the same as for a person who does not exist). An audience export needs the export
right and is served through the record service, so field masking applies.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Table, or_, select
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.idempotency import run_idempotent
from rapport.api.responses import JSONResponse
from rapport.crm.query import Filter, ListQuery
from rapport.crm.registry import OBJECTS
from rapport.errors import ErrorCollector, Forbidden, NotFound, ValidationFailed
from rapport.trust import audit, consent

router = APIRouter(tags=["Consent"])

SubjectParam = Annotated[str, Query(max_length=80, description="The person, e.g. contacts:12")]
IdemKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Retry-safe key; replays the first answer")
]


class ConsentIn(BaseModel):
    """One decision. Vocabularies are checked by the consent service (422 names the field)."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(max_length=80, description="The person, e.g. contacts:12 or leads:5")
    purpose: str = Field(max_length=40, description=", ".join(consent.PURPOSES))
    status: str = Field(max_length=20, description=", ".join(consent.STATUSES))
    lawful_basis: str = Field(max_length=40, description=", ".join(consent.LAWFUL_BASES))
    source: str = Field(max_length=consent.MAX_SOURCE,
                        description="Where the decision came from: web_form, phone_call, ...")
    evidence: str | None = Field(None, max_length=consent.MAX_EVIDENCE,
                                 description="Proof: form wording and version, reference")
    expires_at: AwareDatetime | None = Field(None, description="When a grant lapses (with offset)")


class CollectIn(BaseModel):
    """A banner decision from the web SDK: the person by subject or by email."""

    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(None, max_length=80, description="e.g. contacts:12")
    email: str | None = Field(None, max_length=320, description="Matched to contacts and leads")
    purpose: str = Field(max_length=40, description=", ".join(consent.PURPOSES))
    status: str = Field(max_length=20, description=", ".join(consent.STATUSES))
    source: str = Field("web_sdk", max_length=consent.MAX_SOURCE)
    evidence: str = Field(max_length=consent.MAX_EVIDENCE,
                          description="Banner text and version the person saw")
    collected_at: AwareDatetime | None = Field(
        None, description="When the person decided; older than the decision in force = ignored")

    @model_validator(mode="after")
    def _one_person(self) -> CollectIn:
        if (self.subject is None) == (self.email is None):
            raise ValueError("give either subject or email, not both and not neither")
        return self


# ---- routes ----------------------------------------------------------------------------------


@router.get("/consents", summary="Consent history of a person, newest first")
def consent_history(
    subject: SubjectParam, container: ContainerDep, session: SessionDep, actor: ActorDep,
    cursor: Annotated[str | None, Query(max_length=40, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=consent.MAX_PAGE, description="Page size")] = 50,
) -> Response:
    person = consent.authorise(container.records, session, actor, subject, "read")
    page = consent.history(session, person, limit=limit, cursor=cursor)
    return JSONResponse({"subject": str(person), "items": [e.to_json() for e in page.items],
                         "next_cursor": page.next_cursor})


@router.get("/consents/current", summary="Consent state of a person per purpose")
def consent_current(
    subject: SubjectParam, container: ContainerDep, session: SessionDep, actor: ActorDep,
) -> Response:
    person = consent.authorise(container.records, session, actor, subject, "read")
    states = consent.current(session, person)
    return JSONResponse({"subject": str(person), "purposes": [s.to_json() for s in states]})


@router.post("/consents", status_code=201, summary="Record a consent decision")
def record_consent(body: ConsentIn, container: ContainerDep, actor: ActorDep,
                   idempotency_key: IdemKey = None) -> Response:
    with container.uow() as uow:
        def run() -> tuple[int, Any]:
            errors = ErrorCollector()
            consent.check_decision(purpose=body.purpose, status=body.status,
                                   lawful_basis=body.lawful_basis, source=body.source,
                                   evidence=body.evidence, expires_at=body.expires_at,
                                   errors=errors)
            try:
                consent.parse_subject(body.subject)
            except ValidationFailed as exc:
                errors.errors.extend(exc.errors)
            errors.raise_if_any("The consent decision is invalid")
            person = consent.authorise(container.records, uow.session, actor, body.subject,
                                       "update", unknown="invalid")
            entry = consent.record(uow.session, container.settings.secret_key, actor.user_id,
                                   person, body.purpose, body.status, body.lawful_basis,
                                   body.source, body.evidence, body.expires_at)
            return 201, entry.to_json()

        return run_idempotent(uow, actor.user_id or 0, idempotency_key,
                              ["consents", body.model_dump(mode="json")], run,
                              container.settings.idempotency_hours)


@router.post("/consents/collect", summary="Record a web SDK consent decision (collector hook)")
def collect_consent(body: CollectIn, container: ContainerDep, actor: ActorDep,
                    idempotency_key: IdemKey = None) -> Response:
    if actor.source != "api":
        raise Forbidden("The collector hook takes API tokens only (Authorization: Bearer ...)")
    with container.uow() as uow:
        def run() -> tuple[int, Any]:
            consent.check_decision(purpose=body.purpose, status=body.status,
                                   lawful_basis="consent", source=body.source,
                                   evidence=body.evidence, expires_at=None)
            session = uow.session
            if body.subject is not None:
                people = [consent.authorise(container.records, session, actor, body.subject,
                                            "update")]
            else:
                people = consent.visible_subjects(
                    container.records, session, actor,
                    consent.subjects_with_email(session, body.email or ""), "update")
                if not people:
                    raise NotFound("No contact or lead you may update has this email")
            results = consent.record_collected(
                session, container.settings.secret_key, actor.user_id, people, body.purpose,
                body.status, body.source, body.evidence, body.collected_at)
            return 200, {"results": [r.to_json() for r in results]}

        return run_idempotent(uow, actor.user_id or 0, idempotency_key,
                              ["consents/collect", body.model_dump(mode="json")], run,
                              container.settings.idempotency_hours)


@router.get("/consents/audience",
            summary="People with valid consent for a marketing purpose, with sending fields")
def consent_audience(
    container: ContainerDep, actor: ActorDep,
    object_name: Annotated[str, Query(alias="object", max_length=60,
                                      description="contacts or leads")],
    purpose: Annotated[str, Query(max_length=40, description="marketing_email or sms")],
    cursor: Annotated[str | None, Query(max_length=40, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=consent.MAX_PAGE, description="Page size")] = 100,
) -> Response:
    errors = ErrorCollector()
    if object_name not in consent.SUBJECT_OBJECTS:
        errors.add("object", f"use one of {', '.join(consent.SUBJECT_OBJECTS)}")
    if purpose not in consent.AUDIENCE_FIELDS:
        errors.add("purpose", "audiences are for the marketing purposes: "
                              + ", ".join(consent.AUDIENCE_FIELDS))
    after = 0
    if cursor:
        if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19:
            errors.add("cursor", "not a cursor from this list; pass next_cursor as it came")
        else:
            after = int(cursor)
    errors.raise_if_any("The audience request is invalid")
    spec = OBJECTS[object_name]
    if not actor.access.allows(object_name, "export"):
        raise Forbidden(f"Your roles do not allow you to export {spec.label.lower()}")
    fields = consent.AUDIENCE_FIELDS[purpose][object_name]
    table = cast(Table, spec.model.__table__)
    size = min(limit, container.settings.page_size_max)
    with container.uow() as uow:
        session = uow.session
        ids = list(session.scalars(
            select(table.c.id)
            .where(consent.consented_subjects_clause(object_name, purpose))
            .where(or_(*(table.c[f].is_not(None) for f in fields)), table.c.id > after)
            .order_by(table.c.id).limit(size + 1)))
        next_cursor = str(ids[size - 1]) if len(ids) > size else None
        ids = ids[:size]
        items: list[dict[str, Any]] = []
        if ids:
            page = container.records.list(
                session, object_name,
                ListQuery(filters=[Filter("id", "in", ",".join(map(str, ids)))], sort=["id"],
                          limit=len(ids)),
                actor=actor)
            for record in page.items:
                item = {"id": record.id, **{f: record.values.get(f) for f in fields}}
                masked = [f for f in fields if f in record.masked]
                if masked:
                    item["_masked"] = masked
                items.append(item)
        audit.append(session, container.settings.secret_key, "export",
                     actor=audit.actor_ref(actor.user_id), target=object_name,
                     details={"kind": "consent_audience", "object": object_name,
                              "purpose": purpose, "count": len(items)})
        uow.commit()
    return JSONResponse({"object": object_name, "purpose": purpose, "items": items,
                         "next_cursor": next_cursor})
