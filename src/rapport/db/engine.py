"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    # orjson for JSON columns: change records, outbox payloads and custom fields are hot.
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # erased people must not survive in free pages of the file (docs/privacy-requests.md)
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA cache_size=-200000")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA mmap_size=1073741824")
            # checkpoint every ~40 MB of WAL, not 4 MB: pages the hub rewrites often (profiles,
            # index pages) reach the main file once per checkpoint (docs/benchmarks.md)
            cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


# reentrant: a writer that calls another writer on the same thread must not wait for itself
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


def writer_lock(bind: Engine | Connection) -> AbstractContextManager[Any]:
    """Hold while a write transaction runs, on SQLite; a no-op on PostgreSQL.

    SQLite has one writer per file. Threads of one process that wait for it in SQLite's busy
    handler sleep in growing steps (up to 100 ms) and miss the moment it frees, so the hot
    writers of the data hub (collector requests, embedded processors) queue on this lock
    instead and take the file's lock the instant the previous one commits. Other processes,
    and writers that do not take it, still wait in the busy handler.
    """
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _WRITERS_GUARD:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.RLock()
    return lock


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)
