"""Stored answers for ``Idempotency-Key`` so a retried POST replays instead of duplicating."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import Base, IdMixin, IdType, UtcDateTime, info, utcnow


class IdempotencyKey(IdMixin, Base):
    __tablename__ = "idempotency_keys"
    user_id: Mapped[int] = mapped_column(IdType, info=info("system.reference"))
    key: Mapped[str] = mapped_column(String(200), info=info("system.request"))
    request_hash: Mapped[str] = mapped_column(String(64), info=info("system.request"))
    status_code: Mapped[int] = mapped_column(Integer, info=info("system.request"))
    response_body: Mapped[str] = mapped_column(Text, info=info("system.request"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True, info=info("system.time"))
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)
