"""Event sources: a name, a channel, a field mapping and a write key (only its hash stored).

The clear write key (``rwk_…``) is shown once, when the source is created or its key rotated;
clients send it as the HTTP Basic user, as Segment clients do. Rotating replaces the key at
once: the old one stops working.

A webhook source's mapping may hold a ``signature`` block (rapport.events.webhook_signatures):
its signing secret is sealed before it is stored and never shown again. Changing the mapping
keeps the block unless the new mapping says ``"signature": null``, so fixing a field path
cannot switch signature checks off by omission.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from rapport.events import webhook_signatures
from rapport.events.hub_models import CHANNELS, Source

WRITE_KEY_PREFIX = "rwk_"
SOURCE_CHANNELS = tuple(c for c in CHANNELS if c != "crm")  # "crm" is the CRM's own source
MAX_NAME = 100


@dataclass(frozen=True)
class SourceInfo:
    """A source as other code sees it (never the key or its hash)."""

    id: int
    name: str
    channel: str
    enabled: bool
    mapping: dict[str, Any]
    write_key_prefix: str
    created_at: datetime
    last_event_at: datetime | None

    def public_mapping(self) -> dict[str, Any]:
        """The mapping as shown to people: a signing secret only as ``secret_set``."""
        return public_mapping(self.mapping)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "channel": self.channel, "enabled": self.enabled,
            "mapping": self.public_mapping(), "write_key_prefix": self.write_key_prefix,
            "created_at": self.created_at.isoformat(),
            "last_event_at": self.last_event_at.isoformat() if self.last_event_at else None,
        }


@dataclass(frozen=True)
class IssuedKey:
    """A source with its clear write key: the only time the key is visible."""

    source: SourceInfo
    write_key: str


def _info(row: Source) -> SourceInfo:
    return SourceInfo(id=row.id, name=row.name, channel=row.channel, enabled=row.enabled,
                      mapping=dict(row.mapping or {}), write_key_prefix=row.write_key_prefix,
                      created_at=row.created_at, last_event_at=row.last_event_at)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_key() -> tuple[str, str, str]:
    raw = WRITE_KEY_PREFIX + secrets.token_urlsafe(32)
    return raw, hash_key(raw), raw[:12]


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("A source needs a name", errors=[FieldError("name", "required")])
    clean = name.strip()
    if len(clean) > MAX_NAME or "\x00" in clean:
        raise ValidationFailed(f"A source name has at most {MAX_NAME} characters",
                               errors=[FieldError("name", f"at most {MAX_NAME} characters")])
    return clean


def check_channel(channel: Any, *, allow_crm: bool = False) -> str:
    allowed = CHANNELS if allow_crm else SOURCE_CHANNELS
    if not isinstance(channel, str) or channel.strip().lower() not in allowed:
        raise ValidationFailed(f"channel must be one of {', '.join(allowed)}",
                               errors=[FieldError("channel", "one of " + ", ".join(allowed))])
    return channel.strip().lower()


def check_mapping(mapping: Any, *, secret_key: str = "",
                  previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The mapping as stored: a JSON object, its ``signature`` block checked and its secret
    sealed; without a ``signature`` key the previous mapping's block is kept."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ValidationFailed("mapping must be a JSON object",
                               errors=[FieldError("mapping", "a JSON object")])
    stored = dict(mapping)
    old_block = (previous or {}).get("signature")
    if "signature" not in stored:
        if isinstance(old_block, dict):
            stored["signature"] = old_block
        return stored
    if stored["signature"] is None:
        del stored["signature"]
        return stored
    stored["signature"] = webhook_signatures.prepare(
        stored["signature"], old_block if isinstance(old_block, dict) else None, secret_key)
    return stored


def public_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    """A mapping without its sealed signing secret (``secret_set`` says whether there is one)."""
    if "signature" not in mapping:
        return mapping
    return {**mapping, "signature": webhook_signatures.public(mapping["signature"])}


def signature_change(mapping: dict[str, Any] | None) -> dict[str, Any]:
    """What an audit entry says of a mapping change's ``signature`` block (never the secret):
    nothing when the change leaves the block alone."""
    if not mapping or "signature" not in mapping:
        return {}
    block = mapping["signature"]
    if not isinstance(block, dict):
        return {"signature": "removed"}
    return {"signature": str(block.get("scheme"))[:20],
            "signing_secret": "changed" if "secret" in block else "kept"}


def _load(session: Session, source_id: int) -> Source:
    row = session.get(Source, source_id)
    if row is None:
        raise NotFound(f"No source {source_id}")
    return row


def create_source(session: Session, name: str, channel: str, mapping: dict[str, Any] | None = None,
                  *, allow_crm: bool = False, secret_key: str = "") -> IssuedKey:
    """A new source and its write key (shown once). ``secret_key`` (the settings') seals a
    signing secret in the mapping."""
    clean = check_name(name)
    chosen = check_channel(channel, allow_crm=allow_crm)
    if session.scalar(select(Source.id).where(Source.name == clean)) is not None:
        raise Conflict(f"A source named {clean!r} already exists",
                       errors=[FieldError("name", "already used", "duplicate")])
    raw, digest, prefix = _new_key()
    row = Source(name=clean, channel=chosen, write_key_hash=digest, write_key_prefix=prefix,
                 mapping=check_mapping(mapping, secret_key=secret_key), enabled=True)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"A source named {clean!r} already exists",
                       errors=[FieldError("name", "already used", "duplicate")]) from None
    return IssuedKey(_info(row), raw)


def list_sources(session: Session) -> list[SourceInfo]:
    return [_info(r) for r in session.scalars(select(Source).order_by(Source.name))]


def get_source(session: Session, source_id: int) -> SourceInfo:
    return _info(_load(session, source_id))


def find_source(session: Session, name: str) -> SourceInfo:
    row = session.scalar(select(Source).where(func.lower(Source.name) == name.strip().lower()))
    if row is None:
        raise NotFound(f"No source named {name!r}")
    return _info(row)


def rotate_key(session: Session, source_id: int) -> IssuedKey:
    """A new write key; the old one stops working when this commits."""
    row = _load(session, source_id)
    raw, digest, prefix = _new_key()
    row.write_key_hash, row.write_key_prefix = digest, prefix
    session.flush()
    return IssuedKey(_info(row), raw)


def update_source(session: Session, source_id: int, *, enabled: bool | None = None,
                  mapping: dict[str, Any] | None = None, name: str | None = None,
                  secret_key: str = "") -> SourceInfo:
    row = _load(session, source_id)
    if enabled is not None:
        row.enabled = bool(enabled)
    if mapping is not None:
        row.mapping = check_mapping(mapping, secret_key=secret_key, previous=dict(row.mapping or {}))
    if name is not None:
        clean = check_name(name)
        if clean != row.name and session.scalar(select(Source.id).where(Source.name == clean)):
            raise Conflict(f"A source named {clean!r} already exists",
                           errors=[FieldError("name", "already used", "duplicate")])
        row.name = clean
    session.flush()
    return _info(row)


def authenticate(session: Session, write_key: str | None) -> SourceInfo:
    """The enabled source holding this write key; 401 for a missing or unknown key, 403 for
    a disabled source."""
    if not write_key:
        raise Unauthenticated("Send the source's write key as the HTTP Basic user name "
                              "(rapport source create prints it)")
    row = session.scalar(select(Source).where(Source.write_key_hash == hash_key(write_key.strip())))
    if row is None:
        raise Unauthenticated("Unknown write key: check the source's key (it changes when "
                              "rotated)")
    if not row.enabled:
        raise Forbidden(f"Source {row.name!r} is disabled; an administrator can enable it")
    return _info(row)
