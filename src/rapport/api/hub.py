"""Sources (write keys) and dead letters: ``/api/v1/sources`` and ``/api/v1/dead-letters``.

Every route needs ``sources.manage`` (administrators): dead-letter payloads are raw events and
may hold personal data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.responses import JSONResponse
from rapport.crm.service import Actor
from rapport.errors import FieldError, ValidationFailed
from rapport.events import dead_letters, sources
from rapport.trust import audit

router = APIRouter(tags=["Sources and dead letters"])
WHAT_SOURCES = "managing event sources"
WHAT_DEAD = "handling dead letters"
MAX_ID = 2**63 - 1
SourceId = Annotated[int, Path(ge=1, le=MAX_ID, description="Source id")]
DeadLetterId = Annotated[int, Path(ge=1, le=MAX_ID, description="Dead letter id")]
SourceQ = Annotated[str | None, Query(max_length=100, description="A source id or name")]
CodeQ = Annotated[str | None, Query(max_length=60, description="A reason code, e.g. missing_identity")]
StatusQ = Annotated[str | None, Query(max_length=12, description="open, replayed or discarded")]


MAPPING_HELP = ("How the webhook or MQTT adapter maps payloads (docs/sources.md). A "
                "\"signature\" block ({\"scheme\": \"stripe\"|\"shopify\"|\"hmac\", "
                "\"secret\": ...}) makes the webhook check vendor signatures; its secret is "
                "stored encrypted and answered only as \"secret_set\"")


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    channel: str = Field(max_length=10, description="web, app, pos, iot, api or import")
    mapping: dict[str, Any] | None = Field(None, description=MAPPING_HELP)


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    enabled: bool | None = None
    mapping: dict[str, Any] | None = Field(None, description=MAPPING_HELP + ". A new mapping "
                                           "without a \"signature\" key keeps the current "
                                           "block; \"signature\": null removes it")


class PayloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: Any = Field(None, description="The corrected payload: a JSON object, or its text")
    payload_format: Literal["event", "webhook", "mqtt"] | None = Field(
        None, description="What the payload is: an event, or the source's own payload (a "
        "webhook body, an MQTT message) that the replay maps with the source's mapping. "
        "Default: unchanged")


def _audit(container: Any, session: Any, actor: Actor, target: str, details: dict[str, Any]) -> None:
    audit.append(session, container.settings.secret_key, "config_changed",
                 actor=audit.actor_ref(actor.user_id), target=target, details=details,
                 network=actor.network)


@router.get("/sources", summary="List event sources")
def list_sources(session: SessionDep, actor: ActorDep) -> Response:
    actor.require("sources.manage", WHAT_SOURCES)
    return JSONResponse({"items": [s.as_json() for s in sources.list_sources(session)]})


@router.post("/sources", status_code=201, summary="Create an event source and its write key")
def create_source(body: SourceIn, container: ContainerDep, actor: ActorDep) -> Response:
    """The write key is in the answer once; only its hash is kept."""
    actor.require("sources.manage", WHAT_SOURCES)
    with container.uow() as uow:
        issued = sources.create_source(uow.session, body.name, body.channel, body.mapping,
                                       secret_key=container.settings.secret_key)
        _audit(container, uow.session, actor, f"sources:{issued.source.id}",
               {"source": "created", "channel": issued.source.channel,
                **sources.signature_change(body.mapping)})
        uow.commit()
    return JSONResponse({**issued.source.as_json(), "write_key": issued.write_key}, status_code=201)


@router.get("/sources/{source_id}", summary="Read an event source")
def get_source(source_id: SourceId, session: SessionDep, actor: ActorDep) -> Response:
    actor.require("sources.manage", WHAT_SOURCES)
    return JSONResponse(sources.get_source(session, source_id).as_json())


@router.patch("/sources/{source_id}", summary="Enable, disable, rename or remap a source")
def update_source(source_id: SourceId, body: SourcePatch, container: ContainerDep,
                  actor: ActorDep) -> Response:
    actor.require("sources.manage", WHAT_SOURCES)
    with container.uow() as uow:
        info = sources.update_source(uow.session, source_id, enabled=body.enabled,
                                     mapping=body.mapping, name=body.name,
                                     secret_key=container.settings.secret_key)
        _audit(container, uow.session, actor, f"sources:{source_id}",
               {"source": "changed", "fields": sorted(body.model_fields_set),
                **sources.signature_change(body.mapping)})
        uow.commit()
    return JSONResponse(info.as_json())


@router.post("/sources/{source_id}/rotate-key", summary="Replace a source's write key")
def rotate_key(source_id: SourceId, container: ContainerDep, actor: ActorDep) -> Response:
    """The old key stops working at once; the new one is in the answer once."""
    actor.require("sources.manage", WHAT_SOURCES)
    with container.uow() as uow:
        issued = sources.rotate_key(uow.session, source_id)
        _audit(container, uow.session, actor, f"sources:{source_id}", {"source": "key_rotated"})
        uow.commit()
    return JSONResponse({**issued.source.as_json(), "write_key": issued.write_key})


def _filters(session: Any, source: str | None, code: str | None,
             status: str | None) -> dead_letters.Filters:
    return dead_letters.Filters(source_id=dead_letters.resolve_source(session, source),
                                code=code or None, status=dead_letters.check_status(status))


@router.get("/dead-letters", summary="List dead letters")
def list_dead_letters(
    session: SessionDep, actor: ActorDep, source: SourceQ = None, code: CodeQ = None,
    status: StatusQ = None,
    cursor: Annotated[str | None, Query(max_length=20, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Newest first, keyset-paginated; payloads only in the single dead letter's answer."""
    actor.require("sources.manage", WHAT_DEAD)
    before: int | None = None
    if cursor:
        if not cursor.isdigit() or len(cursor) > 18:
            raise ValidationFailed("cursor must be the next_cursor of a previous page",
                                   errors=[FieldError("cursor", "not a cursor from this list")])
        before = int(cursor)
    filters = _filters(session, source, code, status)
    items, next_cursor = dead_letters.list_dead_letters(session, filters, before_id=before,
                                                        limit=limit)
    return JSONResponse({"items": [i.as_json(payload=False) for i in items],
                         "next_cursor": str(next_cursor) if next_cursor else None,
                         "counts": dead_letters.counts(session, filters)})


@router.post("/dead-letters/replay", summary="Replay every open dead letter matching filters")
def replay_matching(container: ContainerDep, actor: ActorDep, source: SourceQ = None,
                    code: CodeQ = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Response:
    """Oldest first, at most ``limit`` per call; each one replayed or left open with its new
    reason."""
    actor.require("sources.manage", WHAT_DEAD)
    outcomes: list[dead_letters.Replayed] = []
    with container.uow() as uow:
        filters = _filters(uow.session, source, code, None)
        ids = dead_letters.open_ids(uow.session, filters, limit)
    for start in range(0, len(ids), 200):
        with container.uow() as uow:
            chunk = [dead_letters.replay(uow.session, container.settings, i)
                     for i in ids[start:start + 200]]
            uow.commit()
        container.event_bus.publish([ref for o in chunk for ref in o.stored])
        outcomes += chunk
    replayed = sum(1 for o in outcomes if o.status == "replayed")
    return JSONResponse({"replayed": replayed, "still_open": sum(1 for o in outcomes if o.status == "open"),
                         "items": [o.as_json() for o in outcomes]})


@router.get("/dead-letters/{dead_letter_id}", summary="Read a dead letter and its payload")
def get_dead_letter(dead_letter_id: DeadLetterId, session: SessionDep, actor: ActorDep) -> Response:
    actor.require("sources.manage", WHAT_DEAD)
    return JSONResponse(dead_letters.get_dead_letter(session, dead_letter_id).as_json())


@router.patch("/dead-letters/{dead_letter_id}", summary="Fix a dead letter's payload")
def fix_dead_letter(dead_letter_id: DeadLetterId, body: PayloadIn, container: ContainerDep,
                    actor: ActorDep) -> Response:
    actor.require("sources.manage", WHAT_DEAD)
    payload = None if body.payload is None else body.payload if isinstance(
        body.payload, str) else orjson.dumps(body.payload).decode()
    with container.uow() as uow:
        info = dead_letters.fix_payload(uow.session, container.settings, dead_letter_id, payload,
                                        body.payload_format)
        uow.commit()
    return JSONResponse(info.as_json())


@router.post("/dead-letters/{dead_letter_id}/replay", summary="Replay a dead letter")
def replay_dead_letter(dead_letter_id: DeadLetterId, container: ContainerDep,
                       actor: ActorDep) -> Response:
    actor.require("sources.manage", WHAT_DEAD)
    with container.uow() as uow:
        outcome = dead_letters.replay(uow.session, container.settings, dead_letter_id)
        uow.commit()
    if outcome.stored:
        container.event_bus.publish(list(outcome.stored))
    return JSONResponse(outcome.as_json())


@router.post("/dead-letters/{dead_letter_id}/discard", summary="Discard a dead letter")
def discard_dead_letter(dead_letter_id: DeadLetterId, container: ContainerDep,
                        actor: ActorDep) -> Response:
    actor.require("sources.manage", WHAT_DEAD)
    with container.uow() as uow:
        info = dead_letters.discard(uow.session, dead_letter_id)
        uow.commit()
    return JSONResponse(info.as_json(payload=False))
