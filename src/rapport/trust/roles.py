"""Roles as data: built-ins seeded on first use, admin edits versioned and audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rapport.db.base import utcnow
from rapport.errors import Conflict, FieldError, NotFound, ValidationFailed
from rapport.trust import audit
from rapport.trust.builtin_roles import BUILTIN_ROLES
from rapport.trust.models import Role, RoleVersion, User, UserRole
from rapport.trust.permissions import (
    NO_ACCESS,
    AccessPolicy,
    PermissionsInvalid,
    policy_from,
    validate_permissions,
)

ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_]{1,59}$"


def ensure_builtin_roles(session: Session) -> dict[str, int]:
    """Create any missing built-in role (idempotent); returns name -> id for all roles."""
    existing = {r.name: r.id for r in session.scalars(select(Role))}
    for name, spec in BUILTIN_ROLES.items():
        if name in existing:
            continue
        role = Role(name=name, label=spec["label"], description=spec["description"],
                    builtin=True, permissions=validate_permissions(spec["permissions"]), custom={})
        session.add(role)
        session.flush()
        session.add(RoleVersion(role_id=role.id, version=1, permissions=role.permissions))
        existing[name] = role.id
    session.flush()
    return existing


def role_names_of(session: Session, user_id: int) -> list[str]:
    return list(session.scalars(
        select(Role.name).join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id).order_by(Role.name)))


def policy_for_user(
    session: Session, user_id: int, *, only_roles: Sequence[str] | None = None,
    is_admin_flag: bool = False,
) -> AccessPolicy:
    """The merged policy of the user's roles; ``only_roles`` narrows it (scoped API tokens).

    The legacy ``users.is_admin`` flag counts as holding the admin role.
    """
    rows = list(session.execute(
        select(Role.name, Role.permissions).join(UserRole, UserRole.role_id == Role.id)
        .where(UserRole.user_id == user_id)))
    docs = [(name, perms) for name, perms in rows]
    if is_admin_flag and not any(name == "admin" for name, _ in docs):
        docs.append(("admin", BUILTIN_ROLES["admin"]["permissions"]))
    if only_roles:
        wanted = set(only_roles)
        docs = [(n, d) for n, d in docs if n in wanted]
    if not docs:
        return NO_ACCESS
    return policy_from(docs)


def get_role(session: Session, name_or_id: str | int) -> Role:
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        role = session.get(Role, int(name_or_id))
    else:
        role = session.scalar(select(Role).where(Role.name == name_or_id))
    if role is None:
        raise NotFound(f"No role {name_or_id}")
    return role


def _checked(permissions: Any) -> dict[str, Any]:
    try:
        return validate_permissions(permissions)
    except PermissionsInvalid as exc:
        raise ValidationFailed(str(exc), errors=[FieldError("permissions", str(exc))]) from None


def create_role(session: Session, secret: str, actor_user: int | None, *, name: str, label: str,
                description: str | None, permissions: Any) -> Role:
    import re

    if not re.match(ROLE_NAME_PATTERN, name or ""):
        raise ValidationFailed("Role names are 2-60 lower-case letters, digits or _",
                               errors=[FieldError("name", "use e.g. regional_manager")])
    if session.scalar(select(Role.id).where(Role.name == name)):
        raise Conflict(f"A role named {name} already exists")
    role = Role(name=name, label=label or name, description=description, builtin=False,
                permissions=_checked(permissions), custom={})
    session.add(role)
    session.flush()
    session.add(RoleVersion(role_id=role.id, version=1, permissions=role.permissions,
                            changed_by=actor_user))
    audit.append(session, secret, "role_created", actor=audit.actor_ref(actor_user),
                 target=f"roles:{role.id}", details={"name": name, "permissions": role.permissions})
    session.flush()
    return role


def update_role(session: Session, secret: str, actor_user: int | None, name_or_id: str | int, *,
                label: str | None = None, description: str | None = None,
                permissions: Any = None, expected_version: int | None = None) -> Role:
    role = get_role(session, name_or_id)
    if expected_version is not None and expected_version != role.version:
        from rapport.errors import VersionConflict

        raise VersionConflict(f"role {role.name} is at version {role.version}, not {expected_version}")
    before = role.permissions
    if label is not None:
        role.label = label
    if description is not None:
        role.description = description
    if permissions is not None:
        role.permissions = _checked(permissions)
    role.version += 1
    role.updated_at = utcnow()
    session.add(RoleVersion(role_id=role.id, version=role.version, permissions=role.permissions,
                            changed_by=actor_user))
    audit.append(session, secret, "role_changed", actor=audit.actor_ref(actor_user),
                 target=f"roles:{role.id}", details={"name": role.name, "version": role.version,
                                                    "before": before, "after": role.permissions})
    session.flush()
    return role


def delete_role(session: Session, secret: str, actor_user: int | None, name_or_id: str | int) -> None:
    role = get_role(session, name_or_id)
    if role.builtin:
        raise Conflict(f"{role.name} is built in; edit it instead of deleting it")
    audit.append(session, secret, "role_deleted", actor=audit.actor_ref(actor_user),
                 target=f"roles:{role.id}", details={"name": role.name})
    session.delete(role)
    session.flush()


def role_versions(session: Session, role_id: int) -> list[RoleVersion]:
    return list(session.scalars(
        select(RoleVersion).where(RoleVersion.role_id == role_id).order_by(RoleVersion.version)))


def set_user_roles(session: Session, secret: str, actor_user: int | None, user_id: int,
                   names: Sequence[str]) -> list[str]:
    """Replace the roles a user holds; unknown names are refused."""
    if session.get(User, user_id) is None:
        raise NotFound(f"No user with id {user_id}")
    ids = ensure_builtin_roles(session)
    unknown = [n for n in names if n not in ids]
    if unknown:
        raise ValidationFailed(f"Unknown roles: {', '.join(unknown)}",
                               errors=[FieldError("roles", f"known roles: {', '.join(sorted(ids))}")])
    before = role_names_of(session, user_id)
    session.execute(delete(UserRole).where(UserRole.user_id == user_id))
    for name in sorted(set(names)):
        session.add(UserRole(user_id=user_id, role_id=ids[name]))
    session.flush()
    after = role_names_of(session, user_id)
    if before != after:
        audit.append(session, secret, "user_roles_changed", actor=audit.actor_ref(actor_user),
                     target=f"users:{user_id}", details={"before": before, "after": after})
    return after


def role_json(role: Role) -> dict[str, Any]:
    return {"id": role.id, "name": role.name, "label": role.label,
            "description": role.description, "builtin": role.builtin,
            "permissions": role.permissions, "version": role.version,
            "updated_at": role.updated_at.isoformat()}
