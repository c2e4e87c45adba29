"""The live profile of one customer (merged profiles point at the survivor: ids are stable)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import Base, IdMixin, IdType, JsonType, TimestampMixin, UtcDateTime, info


class Profile(IdMixin, TimestampMixin, Base):
    __tablename__ = "profiles"
    merged_into_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("profiles.id", ondelete="SET NULL"), index=True, info=info("system.reference"))
    # {trait: {"value": ..., "source": source id, "at": iso time}}
    traits: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("profile.traits"))
    # {"events": {type/name: n}, "sessions": n, "page_views": n, "documents_read": n,
    #  "orders": n, "revenue": "123.45"}
    counters: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("profile.counters"))
    channels: Mapped[list[str]] = mapped_column(JsonType, default=list, info=info("profile.counters"))
    journey_stage: Mapped[str | None] = mapped_column(String(30), info=info("profile.journey"))
    first_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True, info=info("system.time"))
    contact_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="SET NULL"), index=True, info=info("system.reference"))
    lead_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("leads.id", ondelete="SET NULL"), index=True, info=info("system.reference"))
    last_event_id: Mapped[int | None] = mapped_column(IdType, info=info("system.reference"))
    version: Mapped[int] = mapped_column(Integer, default=1, info=info("system.version"))
