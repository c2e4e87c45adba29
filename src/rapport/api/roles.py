"""Roles and who holds them; revealing masked values (issue 3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.responses import Response

from rapport.api.deps import ActorDep, ContainerDep, SessionDep
from rapport.api.records import RecordId
from rapport.api.responses import JSONResponse
from rapport.crm.registry import API_OBJECTS
from rapport.errors import NotFound, ValidationFailed
from rapport.trust import roles
from rapport.trust.models import Role
from rapport.trust.permissions import CAPABILITIES, FIELD_ACCESS, RIGHTS, SCOPES

router = APIRouter(tags=["Roles"])
RoleKey = Annotated[str, PathParam(max_length=60, description="Role name or id")]


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=60, pattern=r"^[a-z][a-z0-9_]{1,59}$")
    label: str = Field(max_length=100)
    description: str | None = Field(None, max_length=2000)
    permissions: dict[str, Any] = Field(
        description="objects (rights and scope per object or *), fields (access per data "
        "category or *), capabilities, reveal, require_totp")


class RoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=2000)
    permissions: dict[str, Any] | None = None
    version: int | None = Field(None, ge=1, description="The version you edited (409 if stale)")


class UserRolesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Annotated[str, Field(max_length=60)]] = Field(max_length=50)


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: list[Annotated[str, Field(max_length=80)]] = Field(
        min_length=1, max_length=20, description="Masked field names, e.g. phone or custom.id_no")


def _manage(actor: ActorDep) -> None:
    actor.require("roles.manage", "managing roles")


@router.get("/roles", summary="List roles")
def list_roles(session: SessionDep, actor: ActorDep) -> Response:
    items = [roles.role_json(r) for r in session.scalars(select(Role).order_by(Role.name))]
    return JSONResponse({"items": items, "rights": list(RIGHTS), "scopes": list(SCOPES),
                         "field_access": list(FIELD_ACCESS), "capabilities": list(CAPABILITIES)})


@router.post("/roles", status_code=201, summary="Create a role")
def create_role(body: RoleIn, container: ContainerDep, actor: ActorDep) -> Response:
    _manage(actor)
    with container.uow() as uow:
        role = roles.create_role(uow.session, container.settings.secret_key, actor.user_id,
                                 name=body.name, label=body.label, description=body.description,
                                 permissions=body.permissions)
        uow.commit()
        return JSONResponse(roles.role_json(role), status_code=201)


@router.get("/roles/{role}", summary="Read a role")
def get_role(role: RoleKey, session: SessionDep, actor: ActorDep) -> Response:
    found = roles.get_role(session, role)
    return JSONResponse(roles.role_json(found), headers={"ETag": f'"{found.version}"'})


@router.patch("/roles/{role}", summary="Change a role (a new, audited version)")
def update_role(role: RoleKey, body: RoleUpdate, container: ContainerDep, actor: ActorDep,
                if_match: Annotated[str | None, Header()] = None) -> Response:
    _manage(actor)
    expected = body.version
    if expected is None and if_match:
        raw = if_match.strip().removeprefix("W/").strip('"')
        if not raw.isdigit():
            raise ValidationFailed('If-Match must be the role version, e.g. "3"')
        expected = int(raw)
    with container.uow() as uow:
        updated = roles.update_role(
            uow.session, container.settings.secret_key, actor.user_id, role, label=body.label,
            description=body.description, permissions=body.permissions, expected_version=expected)
        uow.commit()
        return JSONResponse(roles.role_json(updated), headers={"ETag": f'"{updated.version}"'})


@router.delete("/roles/{role}", status_code=204, summary="Delete a role that is not built in")
def delete_role(role: RoleKey, container: ContainerDep, actor: ActorDep) -> Response:
    _manage(actor)
    with container.uow() as uow:
        roles.delete_role(uow.session, container.settings.secret_key, actor.user_id, role)
        uow.commit()
    return Response(status_code=204)


@router.get("/roles/{role}/versions", summary="Every saved version of a role")
def role_versions(role: RoleKey, session: SessionDep, actor: ActorDep) -> Response:
    found = roles.get_role(session, role)
    items = [{"version": v.version, "permissions": v.permissions, "changed_by": v.changed_by,
              "changed_at": v.changed_at.isoformat()} for v in roles.role_versions(session, found.id)]
    return JSONResponse({"role": found.name, "items": items})


@router.get("/users/{user_id}/roles", summary="The roles a user holds")
def get_user_roles(user_id: RecordId, session: SessionDep, actor: ActorDep) -> Response:
    if actor.user_id != user_id:
        _manage(actor)
    return JSONResponse({"user_id": user_id, "roles": roles.role_names_of(session, user_id)})


@router.put("/users/{user_id}/roles", summary="Replace the roles a user holds")
def set_user_roles(user_id: RecordId, body: UserRolesIn, container: ContainerDep,
                   actor: ActorDep) -> Response:
    _manage(actor)
    with container.uow() as uow:
        held = roles.set_user_roles(uow.session, container.settings.secret_key, actor.user_id,
                                    user_id, body.roles)
        uow.commit()
    return JSONResponse({"user_id": user_id, "roles": held})


@router.post("/{object_name}/{record_id}/reveal",
             summary="Reveal masked values of one record (audited, rate-limited)")
def reveal(object_name: Annotated[str, PathParam(max_length=60)], record_id: RecordId,
           body: RevealIn, container: ContainerDep, actor: ActorDep) -> Response:
    if object_name not in API_OBJECTS:
        raise NotFound(f"Unknown object '{object_name}'")
    with container.uow() as uow:
        values = container.records.reveal(uow, actor, object_name, record_id, body.fields)
        uow.commit()
    return JSONResponse({"object": object_name, "id": record_id, "values": values})
