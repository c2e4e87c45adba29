"""Data-hub tables: sources with write keys, the event log, dead letters, derived sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import (
    Base,
    IdMixin,
    IdType,
    JsonType,
    TimestampMixin,
    UtcDateTime,
    info,
    utcnow,
)

CHANNELS = ("web", "app", "pos", "iot", "api", "import", "crm")
EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")


class Source(IdMixin, TimestampMixin, Base):
    """Where events come from; clients authenticate with its write key (hash stored only)."""

    __tablename__ = "sources"
    name: Mapped[str] = mapped_column(String(100), unique=True, info=info("system.source"))
    channel: Mapped[str] = mapped_column(String(10), info=info("system.source", enum=list(CHANNELS)))
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True, info=info("credential.secret"))
    write_key_prefix: Mapped[str] = mapped_column(String(12), info=info("credential.meta"))
    mapping: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("system.source"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, info=info("system.source"))
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))


class HubEvent(IdMixin, Base):
    """One accepted event, stored before the collector answers 200 (the event log)."""

    __tablename__ = "events"
    source_id: Mapped[int] = mapped_column(IdType, ForeignKey("sources.id", ondelete="CASCADE"), info=info("system.reference"))
    message_id: Mapped[str] = mapped_column(String(200), info=info("system.event"))
    type: Mapped[str] = mapped_column(String(10), info=info("system.event"))
    name: Mapped[str | None] = mapped_column(String(200), info=info("event.name"))
    user_id: Mapped[str | None] = mapped_column(String(200), info=info("identifier.user_id"))
    anonymous_id: Mapped[str | None] = mapped_column(String(200), info=info("identifier.anonymous_id"))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, info=info("system.time"))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    skew_ms: Mapped[int | None] = mapped_column(IdType, info=info("system.event"))  # 64-bit: clocks off by years
    channel: Mapped[str] = mapped_column(String(10), info=info("system.event"))
    fingerprint: Mapped[str] = mapped_column(String(128), info=info("device.fingerprint"))
    fingerprint_derived: Mapped[bool] = mapped_column(Boolean, default=False, info=info("system.event"))
    session_id: Mapped[str] = mapped_column(String(128), info=info("device.session"))
    session_derived: Mapped[bool] = mapped_column(Boolean, default=False, info=info("system.event"))
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("event.properties"))
    traits: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("event.traits"))
    context: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("event.context"))
    partition: Mapped[int] = mapped_column(Integer, info=info("system.event"))
    profile_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("profiles.id", ondelete="SET NULL"), info=info("system.reference"))
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
    __table_args__ = (
        UniqueConstraint("source_id", "message_id", name="uq_events_source_message"),
        Index("ix_events_pending", "partition", "processed_at", "id"),
        # the embedded processor's queue: only the waiting events, in id order
        Index("ix_events_unprocessed", "id", sqlite_where=text("processed_at IS NULL"),
              postgresql_where=text("processed_at IS NULL")),
        Index("ix_events_profile_time", "profile_id", "timestamp"),
        Index("ix_events_received", "received_at"),
    )


class DeadLetter(IdMixin, Base):
    """An event that could not be accepted, with its original payload and the reason."""

    __tablename__ = "dead_letters"
    source_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("sources.id", ondelete="SET NULL"), index=True, info=info("system.reference"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True, info=info("system.time"))
    code: Mapped[str] = mapped_column(String(60), index=True, info=info("system.event"))
    reason: Mapped[str] = mapped_column(Text, info=info("system.event"))
    payload: Mapped[str] = mapped_column(Text, info=info("event.raw"))
    # None: the payload is an event; "webhook"/"mqtt": the source's own payload, which a
    # replay maps again with the source's mapping
    payload_format: Mapped[str | None] = mapped_column(String(12), info=info("system.event"))
    message_id: Mapped[str | None] = mapped_column(String(200), info=info("system.event"))
    status: Mapped[str] = mapped_column(String(12), default="open", index=True, info=info("system.event"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, info=info("system.event"))
    replayed_event_id: Mapped[int | None] = mapped_column(IdType, info=info("system.reference"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow, info=info("system.time"))


class EventSession(Base):
    """The current derived session of one user key: a new one after 30 minutes of quiet."""

    __tablename__ = "event_sessions"
    key: Mapped[str] = mapped_column(String(64), primary_key=True, info=info("system.event"))
    session_id: Mapped[str] = mapped_column(String(64), info=info("device.session"))
    last_at: Mapped[datetime] = mapped_column(UtcDateTime, info=info("system.time"))


class DuplicateCount(Base):
    """Repeated messageIds one source sent in one hour: the collector answers them as no-ops
    and stores nothing else of them, so this count is the duplicate rate's only trace."""

    __tablename__ = "event_duplicates"
    source_id: Mapped[int] = mapped_column(IdType, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True, info=info("system.reference"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True, info=info("system.time"))
    count: Mapped[int] = mapped_column(Integer, default=0, info=info("system.event"))
