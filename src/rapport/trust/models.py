"""Users, API tokens and browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.db.base import Base, IdMixin, IdType, RecordMixin, TimestampMixin, UtcDateTime, info


class User(RecordMixin, Base):
    __tablename__ = "users"
    email: Mapped[str] = mapped_column(String(254), unique=True, info=info("contact.email", format="email", search=True))
    name: Mapped[str] = mapped_column(String(200), info=info("contact.name", search=True))
    password_hash: Mapped[str | None] = mapped_column(String(200), info=info("credential.secret", writable=False))
    locale: Mapped[str] = mapped_column(String(10), default="en", info=info("user.preference", enum=["en", "zh_CN"]))
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai", info=info("user.preference"))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, info=info("user.role", writable=False))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, info=info("user.status", writable=False))
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("teams.id", ondelete="SET NULL"), info=info("system.reference"))
    region_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("regions.id", ondelete="SET NULL"), info=info("system.reference"))


class ApiToken(IdMixin, TimestampMixin, Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    name: Mapped[str] = mapped_column(String(100), info=info("credential.meta"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=info("credential.secret"))
    prefix: Mapped[str] = mapped_column(String(12), info=info("credential.meta"))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))


class UserSession(IdMixin, TimestampMixin, Base):
    """A browser session; the cookie carries a signed random id whose hash is stored here."""

    __tablename__ = "user_sessions"
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True, info=info("system.reference"))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True, info=info("credential.secret"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, info=info("credential.meta"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, info=info("credential.meta"))
    user_agent: Mapped[str | None] = mapped_column(String(300), info=info("device.user_agent"))
