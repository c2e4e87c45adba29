"""Storage: engine, declarative base, unit of work and the migration history."""

from rapport.db.base import Base, utcnow
from rapport.db.engine import make_engine, make_session_factory
from rapport.db.uow import UnitOfWork

__all__ = ["Base", "UnitOfWork", "make_engine", "make_session_factory", "utcnow"]
