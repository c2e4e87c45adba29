"""Change records: who changed what, when, from which value to which."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import Base, IdMixin, IdType, JsonType, UtcDateTime, info, utcnow


class ChangeRecord(IdMixin, Base):
    """One create/update/delete of one record; ``changes`` maps field -> [old, new]."""

    __tablename__ = "change_records"
    object_type: Mapped[str] = mapped_column(String(60), info=info("system.reference"))
    record_id: Mapped[int] = mapped_column(IdType, info=info("system.reference"))
    action: Mapped[str] = mapped_column(String(10), info=info("system.audit"))
    changes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("system.audit"))
    actor_user_id: Mapped[int | None] = mapped_column(IdType, info=info("system.reference"))
    source: Mapped[str] = mapped_column(String(20), default="api", info=info("system.audit"))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    __table_args__ = (Index("ix_change_records_object_record", "object_type", "record_id", "id"),)
