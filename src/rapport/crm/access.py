"""Access control for records: object rights, record scope and field access, in one place.

``RecordService`` calls these for every read and write, so the API, the web UI, search,
exports, bulk calls and timelines all get the same answer. A record outside the caller's
scope does not exist for them (404, never 403: ids are not an oracle). Sensitive values
are masked unless a role grants them in clear, and only on a trusted network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import ColumnElement, Table, false, or_, select

from rapport.crm.registry import FieldSpec, ObjectSpec
from rapport.errors import ErrorCollector, Forbidden
from rapport.trust.actor import Actor
from rapport.trust.models import User

RIGHT_WORDS = {"create": "create", "read": "read", "update": "change", "delete": "delete",
               "export": "export"}
OWNER_COLUMNS = ("owner_id", "assignee_id")
# Always visible: the record's identity and bookkeeping, whatever the field rules say.
STRUCTURAL = frozenset({"id", "version", "created_at", "updated_at", "title"})
MASK = "••••"


class Masked(str):
    """A masked rendering of a value (``138****5678``): shown as is, never parsed or linked."""

    __slots__ = ()


def require_right(actor: Actor, spec: ObjectSpec, right: str) -> None:
    if not actor.access.allows(spec.name, right):
        raise Forbidden(f"Your roles do not allow you to {RIGHT_WORDS[right]} {spec.label.lower()}")


def owner_column(table: Table) -> Any:
    for name in OWNER_COLUMNS:
        if name in table.c:
            return table.c[name]
    return None


def scope_clause(actor: Actor, spec: ObjectSpec, table: Table) -> ColumnElement[bool] | None:
    """The WHERE clause limiting ``table`` to the actor's record scope (None: everything).

    own: records they own or are assigned; team: also their team's; region: also their
    region's (by the record's region, else its owner's). An object without an owner column
    is visible only with scope ``all`` (fail closed).
    """
    scope = actor.access.scope(spec.name)
    if scope == "all":
        return None
    owner = owner_column(table)
    if owner is None or actor.user_id is None:
        return false()
    mine: ColumnElement[bool] = owner == actor.user_id
    if scope == "team" and actor.team_id is not None:
        team = select(User.id).where(User.team_id == actor.team_id)
        return or_(mine, owner.in_(team))
    if scope == "region" and actor.region_id is not None:
        people = select(User.id).where(User.region_id == actor.region_id)
        clauses = [mine, owner.in_(people)]
        if "region_id" in table.c:
            clauses.append(table.c.region_id == actor.region_id)
        return or_(*clauses)
    return mine


def field_view(actor: Actor, f: FieldSpec) -> str:
    return actor.access.field_view(f.category)


def mask_value(category: str, value: Any) -> Any:
    masked = _mask_text(category, value)
    return Masked(masked) if isinstance(masked, str) and masked else masked


def _mask_text(category: str, value: Any) -> Any:
    """A masked rendering that keeps what a user needs to recognise the value, no more."""
    if value is None or value == "":
        return value
    text = str(value)
    if category.startswith("contact.email") or ("@" in text and category.endswith("email")):
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}" if domain else MASK
    if category.startswith("contact.phone") or category.endswith("phone"):
        return _mask_phone(text)
    if category.startswith(("identity", "financial.account", "financial.detail")):
        return ("*" * max(len(text) - 4, 4)) + text[-4:] if len(text) > 4 else MASK
    return MASK


@dataclass(frozen=True)
class FieldPlan:
    """What ``present`` does to one object's values for one policy: computed once per page."""

    hidden: frozenset[str]
    masked: tuple[tuple[str, str], ...]  # (field, category)
    custom_hidden: frozenset[str]
    custom_masked: tuple[tuple[str, str], ...]

    @property
    def untouched(self) -> bool:
        return not (self.hidden or self.masked or self.custom_hidden or self.custom_masked)


def field_plan(actor: Actor, spec: ObjectSpec, custom: Mapping[str, FieldSpec]) -> FieldPlan:
    def split(fields: Iterable[FieldSpec]) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
        hidden, masked = set(), []
        for f in fields:
            if f.name in STRUCTURAL:
                continue
            view = field_view(actor, f)
            if view == "hidden":
                hidden.add(f.name)
            elif view == "masked":
                masked.append((f.name, f.category))
        return frozenset(hidden), tuple(masked)

    hidden, masked = split(spec.fields.values())
    custom_hidden, custom_masked = split(custom.values())
    return FieldPlan(hidden, masked, custom_hidden, custom_masked)


def _mask_phone(text: str) -> str:
    """Chinese numbers as ``138****5678`` (the form people know), others ``+1 415****0123``."""
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else "CN")
    except phonenumbers.NumberParseException:
        return MASK
    national = phonenumbers.national_significant_number(parsed)
    if len(national) < 7:
        return MASK
    short = f"{national[:3]}****{national[-4:]}"
    return short if parsed.country_code == 86 else f"+{parsed.country_code} {short}"


def present(
    actor: Actor, spec: ObjectSpec, custom: Mapping[str, FieldSpec], values: dict[str, Any],
    plan: FieldPlan | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The values the actor may see: hidden fields dropped, masked ones masked.

    Returns the values and the names of masked fields (``custom.<name>`` for custom ones).
    Pass a ``plan`` (``field_plan``) when presenting many records of one object.
    """
    plan = plan or field_plan(actor, spec, custom)
    if plan.untouched:
        return values, []
    out = {k: v for k, v in values.items() if k not in plan.hidden}
    masked: list[str] = []
    for name, category in plan.masked:
        value = out.get(name)
        if value not in (None, ""):
            out[name] = mask_value(category, value)
            masked.append(name)
    stored = values.get("custom")
    if isinstance(stored, dict) and (plan.custom_hidden or plan.custom_masked):
        shown = {k: v for k, v in stored.items() if k not in plan.custom_hidden}
        for name, category in plan.custom_masked:
            value = shown.get(name)
            if value not in (None, ""):
                shown[name] = mask_value(category, value)
                masked.append(f"custom.{name}")
        out["custom"] = shown
    return out, masked


def present_changes(
    actor: Actor, spec: ObjectSpec, custom: Mapping[str, FieldSpec], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """A change record's ``{field: [before, after]}`` under the same field rules."""
    out: dict[str, Any] = {}
    for name, pair in changes.items():
        f = spec.fields.get(name)
        if name == "custom" and isinstance(pair, list) and len(pair) == 2:
            before = pair[0] if isinstance(pair[0], dict) else {}
            after = pair[1] if isinstance(pair[1], dict) else {}
            b, _ = present(actor, spec, custom, {"custom": before})
            a, _ = present(actor, spec, custom, {"custom": after})
            out[name] = [b["custom"], a["custom"]]
            continue
        if f is None or name in STRUCTURAL:
            out[name] = pair
            continue
        view = field_view(actor, f)
        if view == "hidden":
            continue
        if view == "masked" and isinstance(pair, list):
            out[name] = [mask_value(f.category, v) for v in pair]
        else:
            out[name] = pair
    return out


def check_writable(
    actor: Actor,
    spec: ObjectSpec,
    custom: Mapping[str, FieldSpec],
    body: Mapping[str, Any],
    errors: ErrorCollector,
    prefix: str,
) -> None:
    """Refuse fields the actor may not write (field rights below ``writable``)."""
    for name in body:
        f = spec.fields.get(name)
        if f is None or name in ("id", "version", "custom"):
            continue
        if not actor.access.field_writable(f.category):
            errors.add(prefix + name, "your roles do not allow changing this field", "forbidden_field")
    values = body.get("custom")
    if isinstance(values, dict):
        for key in values:
            cf = custom.get(key)
            if cf is not None and not actor.access.field_writable(cf.category):
                errors.add(f"{prefix}custom.{key}", "your roles do not allow changing this field",
                           "forbidden_field")


# Operators that only test for an exact value: a lookup by a known e-mail or phone stays
# possible on masked fields; ranges, substrings and sorting would leak them bit by bit.
LOOKUP_OPERATORS = frozenset({"eq", "in", "is_null"})


def unreadable_fields(actor: Actor, spec: ObjectSpec, custom: Mapping[str, FieldSpec],
                      uses: Iterable[tuple[str, str]]) -> list[str]:
    """Of ``(field, operator)`` uses (``sort`` for sort keys), those the actor may not make:
    hidden fields entirely, masked ones except for exact lookups."""
    refused = []
    for name, op in uses:
        key = name.removeprefix("custom.")
        f = custom.get(key) if name.startswith("custom.") else spec.fields.get(name)
        if f is None or name in STRUCTURAL:
            continue
        view = field_view(actor, f)
        if view == "hidden" or (view == "masked" and op not in LOOKUP_OPERATORS):
            refused.append(name)
    return refused
