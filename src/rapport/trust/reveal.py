"""Revealing masked values: only for roles allowed to, on a trusted network, audited and
rate-limited (``reveal_per_hour`` fields per user per hour, counted from the audit log)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.config import Settings
from rapport.crm.registry import FieldSpec, ObjectSpec
from rapport.db.base import utcnow
from rapport.errors import FieldError, Forbidden, RateLimited, ValidationFailed
from rapport.trust import audit
from rapport.trust.actor import Actor
from rapport.trust.models import AuditEntry
from rapport.trust.pseudonym import target_ref


def revealed_in_last_hour(session: Session, user_id: int) -> int:
    """Fields this user revealed in the last hour (each audit entry records its count)."""
    since = utcnow() - timedelta(hours=1)
    entries = session.scalars(select(AuditEntry.details).where(
        AuditEntry.actor == audit.actor_ref(user_id), AuditEntry.action == "reveal",
        AuditEntry.at >= since))
    return sum(int((d or {}).get("count", 1)) for d in entries)


def _field(spec: ObjectSpec, custom: Mapping[str, FieldSpec], name: str) -> FieldSpec | None:
    if name.startswith("custom."):
        return custom.get(name.removeprefix("custom."))
    return spec.fields.get(name)


def reveal_fields(
    session: Session,
    settings: Settings,
    actor: Actor,
    spec: ObjectSpec,
    custom: Mapping[str, FieldSpec],
    values: dict[str, Any],
    fields: Sequence[str],
) -> dict[str, Any]:
    """The clear values of ``fields`` (names as in ``_masked``) of one stored record."""
    if not fields:
        raise ValidationFailed("Name the masked fields to reveal",
                               errors=[FieldError("fields", "e.g. [\"phone\", \"email\"]")])
    policy = actor.access
    if not policy.can_reveal:
        raise Forbidden("Your roles do not allow revealing masked values")
    if not policy.trusted_network:
        raise Forbidden("Masked values can only be revealed from a trusted network")
    unknown = [name for name in fields if _field(spec, custom, name) is None]
    if unknown:
        raise ValidationFailed(f"Unknown fields: {', '.join(unknown)}",
                               errors=[FieldError("fields", f"no field {n}") for n in unknown])
    refused = []
    for name in fields:
        f = _field(spec, custom, name)
        assert f is not None
        if policy.field_view(f.category) == "hidden":
            refused.append(name)
    if refused:
        raise Forbidden(f"These fields are hidden for your roles: {', '.join(refused)}")
    if actor.user_id is not None:
        used = revealed_in_last_hour(session, actor.user_id)
        if used + len(fields) > settings.reveal_per_hour:
            raise RateLimited(
                f"You revealed {used} values in the last hour; the limit is "
                f"{settings.reveal_per_hour}. Try again later.", retry_after=600)
    out: dict[str, Any] = {}
    for name in fields:
        if name.startswith("custom."):
            out[name] = (values.get("custom") or {}).get(name.removeprefix("custom."))
        else:
            out[name] = values.get(name)
    audit.append(session, settings.secret_key, "reveal", actor=audit.actor_ref(actor.user_id),
                 target=target_ref(settings.secret_key, spec.name, values["id"]),
                 network=actor.network,
                 details={"object": spec.name, "fields": sorted(fields), "count": len(fields)})
    return out
