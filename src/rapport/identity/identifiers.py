"""Identifiers of an event: which keys of the identity graph it carries, normalised and guarded.

Kinds: ``user_id``, ``anonymous_id``, ``email`` (normalised), ``phone`` (E.164 with the
configured default region), ``fingerprint`` (device; derived fingerprints are not
identifiers), ``external:<source id>`` (``traits.external_id``), ``contact_id`` and
``lead_id`` (CRM records). Junk values that clients send when they have nothing
(``null``, ``anonymous``, ``0``, ``test@test.com``...) never become identifiers.
See docs/profiles.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from rapport.crm.normalise import normalise_email, normalise_phone
from rapport.errors import ValidationFailed

# Kinds that a lookup (API ?identifier=kind:value) accepts, and their order of strength.
STRONG_KINDS = ("user_id", "contact_id", "lead_id", "email", "phone")
WEAK_KINDS = ("anonymous_id", "fingerprint")
LOOKUP_KINDS = (*STRONG_KINDS, *WEAK_KINDS, "external")
# Kinds whose value is personal data, masked like the CRM's e-mail and phone fields.
MASKED_KINDS = {"email": "contact.email", "phone": "contact.phone"}
MAX_VALUE = 320

# Values clients send when they know nothing: never a key of the graph (compared folded).
BLOCKED_VALUES = frozenset({
    "", "null", "nil", "none", "undefined", "unknown", "anonymous", "anon", "guest", "user",
    "n/a", "na", "-", "0", "-1", "false", "true", "nan", "[object object]", "default",
    "test", "test@test.com", "test@example.com", "email@example.com", "user@example.com",
    "noreply@example.com", "no-reply@example.com", "example@example.com", "a@a.com",
    "none@none.com", "null@null.com", "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
})
_ONE_CHARACTER_REPEATED = re.compile(r"^(.)\1{5,}$")  # 000000, xxxxxxxx, ------
_PHONE_DIGITS = re.compile(r"\D")


class Identifier(NamedTuple):
    """One key of the identity graph (a tuple: cheap to build and hash in the hot path)."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class _EventLike(Protocol):
    source_id: int
    type: str
    user_id: str | None
    anonymous_id: str | None
    fingerprint: str
    fingerprint_derived: bool
    traits: dict[str, Any]
    context: dict[str, Any]
    properties: dict[str, Any]


def is_junk(value: str) -> bool:
    folded = value if value.isascii() else unicodedata.normalize("NFKC", value)
    folded = folded.strip().casefold()
    return folded in BLOCKED_VALUES or (len(folded) >= 6 and bool(_ONE_CHARACTER_REPEATED.match(folded)))


def _text(raw: Any) -> str | None:
    """A usable identifier string (numbers kept as their digits), or None."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        return _clean_text(raw)
    if isinstance(raw, int | float):
        return _clean_text(str(int(raw)) if isinstance(raw, int) or raw.is_integer() else str(raw))
    return None


# The same people send the same ids, e-mails and phones over and over: the cleaning (and
# above all phone parsing) is cached per distinct raw value.
@lru_cache(maxsize=65_536)
def _clean_text(raw: str) -> str | None:
    value = (raw if raw.isascii() else unicodedata.normalize("NFC", raw)).strip()
    if not value or len(value) > MAX_VALUE or "\x00" in value or is_junk(value):
        return None
    return value


def clean_email(raw: Any) -> str | None:
    value = _text(raw)
    return None if value is None else _clean_email(value)


@lru_cache(maxsize=65_536)
def _clean_email(value: str) -> str | None:
    try:
        email = normalise_email(value)
    except ValueError:
        return None
    return None if is_junk(email) else email


def clean_phone(raw: Any, region: str) -> str | None:
    value = _text(raw)
    return None if value is None else _clean_phone(value, region)


@lru_cache(maxsize=65_536)
def _clean_phone(value: str, region: str) -> str | None:
    try:
        phone = normalise_phone(value, region)
    except ValueError:
        return None
    digits = _PHONE_DIGITS.sub("", phone)
    if len(digits) < 7 or len(set(digits[-7:])) == 1:  # +86 1111111...: a placeholder
        return None
    return phone


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _record_id(raw: Any) -> str | None:
    """A CRM record id (digits; the junk list does not apply: record 1 exists)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 19 or not 0 < int(value) < 2**63:
        return None
    return str(int(value))


def alias_previous_id(event: _EventLike) -> str | None:
    """``previousId`` of an alias call (the collector keeps it in properties or context)."""
    for raw in (_get(event.properties, "previousId"), _get(event.properties, "previous_id"),
                _get(event.context, "previousId"), _get(event.traits, "previousId")):
        value = _text(raw)
        if value is not None:
            return value
    return None


def event_identifiers(event: _EventLike, default_region: str) -> list[Identifier]:
    """Every identifier the event carries, strong first; the device fingerprint last."""
    found: list[Identifier] = []

    def add(kind: str, value: str | None) -> None:
        if value is not None:
            ident = Identifier(kind, value)
            if ident not in found:
                found.append(ident)

    traits = event.traits if isinstance(event.traits, Mapping) else {}
    context_traits = _get(event.context, "traits")
    bags = [bag for bag in (traits, context_traits) if isinstance(bag, Mapping) and bag]
    add("user_id", _text(event.user_id))
    for bag in bags:
        add("contact_id", _record_id(bag.get("contact_id")))
        add("lead_id", _record_id(bag.get("lead_id")))
    for bag in bags:
        add("email", clean_email(bag.get("email")))
    for bag in bags:
        add("phone", clean_phone(bag.get("phone"), default_region))
    for bag in bags:
        add(f"external:{event.source_id}", _text(bag.get("external_id")))
    add("anonymous_id", _text(event.anonymous_id))
    if not event.fingerprint_derived:
        add("fingerprint", _text(event.fingerprint))
    return found


def parse_lookup(raw: str, default_region: str) -> Identifier:
    """``email:Ana@Example.com`` -> Identifier("email", "ana@example.com"), normalised as
    stitching normalises; anything else is refused with what to send."""
    kind, sep, value = (raw or "").partition(":")
    kind = kind.strip()
    hint = ("Send identifier=kind:value, kind one of user_id, anonymous_id, email, phone, "
            "fingerprint, contact_id, lead_id, external:<source id>")
    if not sep or not value.strip():
        raise ValidationFailed(hint)
    if kind == "external":
        source, sep2, value = value.partition(":")
        if not sep2 or not source.isdigit():
            raise ValidationFailed("An external id is looked up as external:<source id>:<value>")
        kind = f"external:{int(source)}"
    elif kind not in LOOKUP_KINDS:
        raise ValidationFailed(hint)
    cleaned: str | None
    if kind == "email":
        cleaned = clean_email(value)
    elif kind == "phone":
        cleaned = clean_phone(value, default_region)
    elif kind in ("contact_id", "lead_id"):
        cleaned = _record_id(value)
    else:
        cleaned = _text(value)
    if cleaned is None:
        raise ValidationFailed(f"{value.strip()[:80]!r} is not a usable {kind} value")
    return Identifier(kind, cleaned)
