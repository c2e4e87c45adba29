"""Declarative base, column helpers and shared mixins.

Every column carries ``info={"category": ...}``: masking, export and erasure are driven from
these annotations and a contract test fails on a column without one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT ids on PostgreSQL; INTEGER on SQLite so the id is the rowid and autoincrements.
IdType = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored in UTC; naive input is refused before it gets here."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database layer")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite drops the offset; values were stored in UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def info(category: str, **extra: Any) -> dict[str, Any]:
    """Column annotation: the data category plus optional flags (writable, search, label)."""
    return {"category": category, **extra}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(IdType, primary_key=True, info=info("system.id", writable=False))


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime, default=utcnow, nullable=False, info=info("system.time", writable=False)
    )
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime,
        default=utcnow,
        onupdate=utcnow,
        nullable=False,
        index=True,
        info=info("system.time", writable=False),
    )


class RecordMixin(IdMixin, TimestampMixin):
    """Columns every CRM record has: id, timestamps, optimistic version and custom fields."""

    version: Mapped[int] = mapped_column(
        Integer, default=1, nullable=False, info=info("system.version", writable=False)
    )
    custom: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=dict, nullable=False, info=info("custom", writable=False)
    )
