"""The identity graph: every identifier points at one profile; merges keep their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import Base, IdMixin, IdType, JsonType, UtcDateTime, info, utcnow

# user_id, anonymous_id, email, phone, fingerprint, contact_id, lead_id, external:<source>
IDENTIFIER_KINDS = ("user_id", "anonymous_id", "email", "phone", "fingerprint", "contact_id",
                    "lead_id", "external")


class Identity(IdMixin, Base):
    __tablename__ = "identities"
    kind: Mapped[str] = mapped_column(String(60), info=info("identifier.kind"))
    value: Mapped[str] = mapped_column(String(320), info=info("identifier.value"))
    profile_id: Mapped[int] = mapped_column(IdType, ForeignKey("profiles.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    first_event_id: Mapped[int | None] = mapped_column(IdType, info=info("system.reference"))
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identities_kind_value"),)


class ProfileMerge(IdMixin, Base):
    """One merge: which identifier in which event joined two profiles; undoable."""

    __tablename__ = "profile_merges"
    winner_id: Mapped[int] = mapped_column(IdType, ForeignKey("profiles.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    loser_id: Mapped[int] = mapped_column(IdType, ForeignKey("profiles.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    identifier_kind: Mapped[str] = mapped_column(String(60), info=info("identifier.kind"))
    identifier_value: Mapped[str] = mapped_column(String(320), info=info("identifier.value"))
    event_id: Mapped[int | None] = mapped_column(IdType, info=info("system.reference"))
    moved_identity_ids: Mapped[list[int]] = mapped_column(JsonType, default=list, info=info("system.reference"))
    loser_snapshot: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict, info=info("profile.traits"))
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))


class MergeReview(IdMixin, Base):
    """Two profiles an event would join but the guards refused to merge automatically."""

    __tablename__ = "merge_reviews"
    profile_a_id: Mapped[int] = mapped_column(IdType, ForeignKey("profiles.id", ondelete="CASCADE"), info=info("system.reference"))
    profile_b_id: Mapped[int] = mapped_column(IdType, ForeignKey("profiles.id", ondelete="CASCADE"), info=info("system.reference"))
    identifier_kind: Mapped[str] = mapped_column(String(60), info=info("identifier.kind"))
    identifier_value: Mapped[str] = mapped_column(String(320), info=info("identifier.value"))
    reason: Mapped[str] = mapped_column(Text, info=info("system.event"))
    event_id: Mapped[int | None] = mapped_column(IdType, info=info("system.reference"))
    status: Mapped[str] = mapped_column(String(12), default="open", info=info("system.event"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, info=info("system.time"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("system.time"))
    resolved_by: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id", ondelete="SET NULL"), info=info("system.reference"))
    __table_args__ = (Index("ix_merge_reviews_status", "status", "id"),)
