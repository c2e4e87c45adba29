"""The suppression ledger: an erased person's identifiers, kept only as keyed hashes.

After an erasure the person's e-mail addresses, phone numbers and external ids are stored as
``keyed_hash(secret, "suppress:<kind>", normalised value)``. Every create or update of a
contact or lead is checked against the ledger (``check_not_suppressed``), so a re-import, a
sync or a late event cannot bring the person back; ``reapply`` applies the ledger again to
records restored from a backup taken before the erasure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.errors import ErrorCollector
from rapport.trust.models import Suppression
from rapport.trust.pseudonym import keyed_hash

PERSON_OBJECTS = ("contacts", "leads")
# Identifier columns of the person tables, and the ledger kind each one is hashed under.
IDENTIFIER_FIELDS: dict[str, dict[str, str]] = {
    "contacts": {"email": "email", "phone": "phone", "mobile": "phone", "external_id": "external_id"},
    "leads": {"email": "email", "phone": "phone", "external_id": "external_id"},
}
KINDS = ("email", "phone", "external_id")
# Custom field types whose values are identifiers too, and their ledger kind.
CUSTOM_KINDS = {"email": "email", "phone": "phone"}
SUPPRESSED_MESSAGE = "this person asked to be erased; suppressed"

_CACHE_KEY = "rapport.suppression_keys"
# Ledger contents per database, reused while the ledger's size and newest id are unchanged.
_LEDGER: dict[str, tuple[tuple[int, int], frozenset[str]]] = {}


def identifier_value(object_name: str, kind: str, value: str) -> str:
    """The text that is hashed: stored (already normalised) e-mails and E.164 phones as they
    are; external ids are scoped by object, since two systems may reuse the same id."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind == "external_id":
        return f"{object_name}:{value}"
    return value


def suppression_key(secret: str, object_name: str, kind: str, value: str) -> str:
    return keyed_hash(secret, f"suppress:{kind}", identifier_value(object_name, kind, value))


def custom_identifier_fields(session: Session, object_name: str) -> dict[str, str]:
    """``{custom field name: ledger kind}`` of the object's custom e-mail and phone fields."""
    if object_name not in PERSON_OBJECTS:
        return {}
    from rapport.crm.models import CustomFieldDefinition

    rows = session.execute(select(CustomFieldDefinition.name, CustomFieldDefinition.field_type)
                           .where(CustomFieldDefinition.object_type == object_name,
                                  CustomFieldDefinition.field_type.in_(CUSTOM_KINDS)))
    return {name: CUSTOM_KINDS[field_type] for name, field_type in rows}


def record_keys(secret: str, object_name: str, values: Mapping[str, Any],
                custom_fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{field: key_hash}`` for the identifier fields present (non-empty) in ``values``;
    custom e-mail and phone fields (``custom_fields``) as ``custom.<name>``, hashed like the
    built-in ones, so an erased address is refused in either place."""
    keys: dict[str, str] = {}
    for name, kind in IDENTIFIER_FIELDS.get(object_name, {}).items():
        value = values.get(name)
        if isinstance(value, str) and value.strip():
            keys[name] = suppression_key(secret, object_name, kind, value)
    custom = values.get("custom")
    if custom_fields and isinstance(custom, Mapping):
        for name, kind in custom_fields.items():
            value = custom.get(name)
            if isinstance(value, str) and value.strip():
                keys[f"custom.{name}"] = suppression_key(secret, object_name, kind, value)
    return keys


def _ledger(session: Session) -> frozenset[str]:
    """Every key of the ledger, read at most once per transaction.

    A bulk write checks up to 1,000 records; one cheap ``count, max(id)`` per transaction
    tells whether the process-wide copy is still current.
    """
    cached = session.info.get(_CACHE_KEY)
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1]  # type: ignore[no-any-return]
    count, newest = session.execute(
        select(func.count(Suppression.id), func.coalesce(func.max(Suppression.id), 0))
    ).one()
    url = str(session.get_bind().engine.url)
    version = (int(count), int(newest))
    known = _LEDGER.get(url)
    if known is not None and known[0] == version:
        keys = known[1]
    elif count == 0:
        keys = frozenset()
    else:
        keys = frozenset(session.scalars(select(Suppression.key_hash)))
        _LEDGER[url] = (version, keys)
    session.info[_CACHE_KEY] = (session.get_transaction(), keys)
    return keys


def forget_cache(session: Session) -> None:
    """Drop this transaction's copy (after adding keys in it)."""
    session.info.pop(_CACHE_KEY, None)


def is_suppressed(session: Session, secret: str, object_name: str, values: Mapping[str, Any]) -> list[str]:
    """The identifier fields of ``values`` whose hash is on the ledger (custom e-mail and
    phone fields as ``custom.<name>``)."""
    fields = IDENTIFIER_FIELDS.get(object_name, {})
    if not any(values.get(name) for name in fields) and not values.get("custom"):
        return []
    ledger = _ledger(session)
    if not ledger:  # the usual case: no hashing at all
        return []
    custom = custom_identifier_fields(session, object_name) if values.get("custom") else None
    return [name for name, key in record_keys(secret, object_name, values, custom).items()
            if key in ledger]


def check_not_suppressed(
    session: Session,
    secret: str,
    object_name: str,
    values: Mapping[str, Any],
    errors: ErrorCollector,
    prefix: str = "",
) -> None:
    """Add a field error for each identifier of a contact or lead that was erased.

    ``values`` are the validated, normalised values of one create or update (only what is
    being written is checked, so editing a colleague who shares nothing suppressed works).
    """
    if object_name not in PERSON_OBJECTS:
        return
    for name in is_suppressed(session, secret, object_name, values):
        errors.add(prefix + name, SUPPRESSED_MESSAGE, "suppressed")


@dataclass(frozen=True)
class Identifier:
    kind: str
    key_hash: str


def identifiers_of(secret: str, object_name: str, rows: Iterable[Mapping[str, Any]],
                   custom_fields: Mapping[str, str] | None = None) -> set[Identifier]:
    found: set[Identifier] = set()
    fields = {**IDENTIFIER_FIELDS.get(object_name, {}),
              **{f"custom.{n}": kind for n, kind in (custom_fields or {}).items()}}
    for row in rows:
        for name, key in record_keys(secret, object_name, row, custom_fields).items():
            found.add(Identifier(fields[name], key))
    return found


def add_to_ledger(session: Session, identifiers: Iterable[Identifier], request_id: int | None) -> int:
    """Insert the keys not yet on the ledger; returns how many were new."""
    wanted = {i.key_hash: i for i in identifiers}
    if not wanted:
        return 0
    present = set(session.scalars(select(Suppression.key_hash).where(Suppression.key_hash.in_(wanted))))
    new = [i for key, i in wanted.items() if key not in present]
    for ident in new:
        session.add(Suppression(key_hash=ident.key_hash, kind=ident.kind, request_id=request_id))
    session.flush()
    forget_cache(session)
    return len(new)


def ledger_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Suppression.kind, func.count()).group_by(Suppression.kind))
    return {str(kind): int(n) for kind, n in rows}
