"""The transactional outbox: domain events written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import Base, IdMixin, JsonType, UtcDateTime, info, utcnow


class OutboxMessage(IdMixin, Base):
    __tablename__ = "outbox"
    topic: Mapped[str] = mapped_column(String(120), info=info("system.event"))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, info=info("system.event_payload"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
    attempts: Mapped[int] = mapped_column(default=0, info=info("system.event"))
    last_error: Mapped[str | None] = mapped_column(String(500), info=info("system.event"))
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)
