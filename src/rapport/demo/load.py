"""Write the demo plan into the database fast: chunked, one transaction per chunk.

Rows are rendered (optionally in forked worker processes), converted to driver values and
search documents next to where they are rendered, and written by this process: SQLite through
``executemany``, PostgreSQL through ``COPY``. Memory stays bounded by a small window of
chunks in flight.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, Protocol

from argon2 import PasswordHasher
from sqlalchemy import JSON, Connection, Engine, Table, func, select, text

from rapport.crm.registry import OBJECTS, object_for_table
from rapport.db import all_models  # noqa: F401 - registers every table on the metadata
from rapport.db.base import Base, UtcDateTime
from rapport.demo import names as n
from rapport.demo.documents import document_text
from rapport.demo.generate import (
    CHUNK,
    DEFAULT_SEED,
    TABLES_IN_ORDER,
    Plan,
    Renderer,
    Rows,
    build_plan,
    expected_counts,
)
from rapport.errors import Conflict

# Tables big enough to be worth rebuilding their secondary indexes after the load.
DEFER_INDEXES_FROM = 20_000


class LoadObserver(Protocol):
    """Told what will be loaded, then how far each table has got."""

    def planned(self, totals: dict[str, int]) -> None: ...

    def loaded(self, table: str, rows: int) -> None: ...

    def note(self, message: str) -> None: ...


class _Silent:
    def planned(self, totals: dict[str, int]) -> None:
        return None

    def loaded(self, table: str, rows: int) -> None:
        return None

    def note(self, message: str) -> None:
        return None


@dataclass
class LoadResult:
    skipped: bool
    counts: dict[str, int] = field(default_factory=dict)  # rows written per table
    seconds: float = 0.0
    workers: int = 0
    waiting_seconds: float = 0.0  # the writer waiting for rendered rows
    writing_seconds: float = 0.0  # inserts, search documents and commits
    indexing_seconds: float = 0.0  # rebuilding deferred indexes

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Prepared:
    """One table's rows of one chunk, ready for the driver."""

    table: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    search_table: str | None
    documents: list[tuple[int, str]]


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


_LAST_DATETIME: list[Any] = [None, None]


def _sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy stores for a UTC ``UtcDateTime`` on SQLite, without its overhead."""
    last = _LAST_DATETIME
    if value is last[0]:  # created_at, updated_at and occurred_at are often one object
        return str(last[1])
    if value.utcoffset():
        raise ValueError("demo timestamps are generated in UTC")
    text_value = value.isoformat(" ", "microseconds")[:26]
    last[0], last[1] = value, text_value
    return text_value


def _json(value: Any) -> Any:
    """``json.dumps`` (as SQLAlchemy stores JSON on SQLite), short-cut for the common shapes."""
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, list):
        try:
            joined = '", "'.join(value)
        except TypeError:  # not all strings
            return json.dumps(value)
        if joined.isascii() and '"' not in joined and "\\" not in joined:
            return f'["{joined}"]'
    return json.dumps(value)


_CONVERTERS: dict[tuple[str, str], tuple[list[str], list[tuple[int, Callable[[Any], Any]]]]] = {}


def _layout(table: Table, dialect: Any, with_id: bool) -> tuple[list[str], list[tuple[int, Callable[[Any], Any]]]]:
    """Column order and the converters (by position) a table's values need for the driver."""
    key = (table.name + (":id" if with_id else ""), dialect.name)
    found = _CONVERTERS.get(key)
    if found is None:
        columns = [c.name for c in table.columns if c.name != "id" or with_id]
        converters: list[tuple[int, Callable[[Any], Any]]] = []
        for position, name in enumerate(columns):
            column = table.c[name]
            if dialect.name == "sqlite" and isinstance(column.type, UtcDateTime):
                converters.append((position, _sqlite_datetime))
            elif dialect.name == "sqlite" and isinstance(column.type, JSON):
                converters.append((position, _json))
            else:
                processor = column.type._cached_bind_processor(dialect)
                if processor is not None:
                    converters.append((position, processor))
        found = (columns, converters)
        _CONVERTERS[key] = found
    return found


def prepare(rows_by_table: Rows, dialect: Any) -> list[Prepared]:
    """Driver-ready tuples plus full-text documents for every table of one rendered part."""
    prepared = []
    for name in TABLES_IN_ORDER:
        rows = rows_by_table.get(name)
        if not rows:
            continue
        table = _table(name)
        columns, converters = _layout(table, dialect, "id" in rows[0])
        getter = itemgetter(*columns)
        tuples: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(getter(row))
            for position, convert in converters:
                value = values[position]
                if value is not None:
                    values[position] = convert(value)
            tuples.append(tuple(values))
        spec = OBJECTS.get(object_for_table(name))
        search_table = spec.search_table if spec is not None else None
        documents = []
        if spec is not None and search_table is not None:
            documents = [
                (row["id"], row["_document"] if "_document" in row else document_text(spec, row))
                for row in rows
            ]
        prepared.append(Prepared(name, columns, tuples, search_table, documents))
    return prepared


class _Writer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def write(self, conn: Connection, part: Prepared) -> None:
        if self.dialect == "postgresql":
            self._copy(conn, part.table, part.columns, part.rows)
            if part.search_table:
                self._copy(conn, part.search_table, ["record_id", "body"], part.documents)
            return
        columns = ", ".join(part.columns)
        marks = ", ".join("?" * len(part.columns))
        conn.exec_driver_sql(f"INSERT INTO {part.table} ({columns}) VALUES ({marks})", part.rows)  # noqa: S608
        if part.search_table:
            conn.exec_driver_sql(
                f"INSERT INTO {part.search_table} (rowid, body) VALUES (?, ?)",  # noqa: S608
                part.documents,
            )

    @staticmethod
    def _copy(conn: Connection, table: str, columns: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # noqa: S608
        ) as copy:
            for row in rows:
                copy.write_row(row)


# ---- secondary indexes: dropped before a big load into an empty table, rebuilt after -------


def _secondary_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
                 "AND sql IS NOT NULL"),
            {"t": table},
        ).all()
    else:
        rows = conn.execute(
            text("SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                 "JOIN pg_class c ON c.oid = x.indexrelid "
                 "WHERE x.indrelid = CAST(:t AS regclass) "
                 "AND NOT x.indisunique AND NOT x.indisprimary ORDER BY c.relname"),
            {"t": table},
        ).all()
    return [(str(name), str(sql)) for name, sql in rows if "UNIQUE" not in str(sql).upper()]


# ---- the load ------------------------------------------------------------------------------

_PLAN: Plan | None = None
_DIALECT: Any = None


def _render_part(part: tuple[str, int]) -> list[Prepared]:
    assert _PLAN is not None
    return prepare(Renderer(_PLAN).render(*part), _DIALECT)


def _default_workers(total_rows: int) -> int:
    if total_rows < 150_000 or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    # The writer is mostly inside SQLite or the server, so one worker per CPU keeps it fed.
    return max(1, min(os.cpu_count() or 1, 3))


def _first_free_ids(conn: Connection) -> dict[str, int]:
    ids = {}
    for name in (*TABLES_IN_ORDER,):
        table = _table(name)
        ids[name] = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
    return ids


def _refuse_clashes(conn: Connection, plan: Plan) -> None:
    users = _table("users")
    emails = [u.email for u in plan.users]
    clash = list(
        conn.execute(select(users.c.email).where(users.c.email.in_(emails)).limit(3)).scalars()
    )
    regions = _table("regions")
    clash += conn.execute(
        select(regions.c.name).where(regions.c.code.in_([r["code"] for r in plan.regions])).limit(3)
    ).scalars().all()
    products = _table("products")
    clash += conn.execute(
        select(products.c.sku).where(products.c.sku.in_([p.sku for p in n.PRODUCTS])).limit(3)
    ).scalars().all()
    if clash:
        raise Conflict(
            "The database already holds demo records (" + ", ".join(clash) + "); "
            "load the demo into an empty database"
        )


def has_accounts(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(_table("accounts").c.id).limit(1)).first() is not None


def load_demo(
    engine: Engine,
    *,
    scale: int = 1,
    seed: int = DEFAULT_SEED,
    if_empty: bool = False,
    workers: int | None = None,
    anchor: datetime | None = None,
    observer: LoadObserver | None = None,
    chunk: int = CHUNK,
    defer_indexes_from: int = DEFER_INDEXES_FROM,
    check_foreign_keys: bool | None = None,
) -> LoadResult:
    """Load the demo data set; ``if_empty`` makes it a no-op when accounts already exist.

    Tables that receive at least ``defer_indexes_from`` rows get their secondary indexes
    dropped for the load and rebuilt after it, also when the load fails; on PostgreSQL their
    search-table indexes and foreign keys too (re-adding a foreign key validates every row
    in one pass). SQLite checks foreign keys row by row unless ``check_foreign_keys`` is
    false; by default it is false for loads of a million rows or more, whose references come
    from the same generator the tests check with checking on.
    """
    global _PLAN, _DIALECT
    observer = observer or _Silent()
    started = time.perf_counter()
    if has_accounts(engine):
        if if_empty:
            return LoadResult(skipped=True)
        raise Conflict("The database already has accounts; demo data goes into an empty "
                       "database (use --if-empty to skip quietly)")
    with engine.connect() as conn:
        plan = build_plan(scale=scale, seed=seed, anchor=anchor, ids=_first_free_ids(conn),
                          chunk=chunk)
        _refuse_clashes(conn, plan)
    plan.password_hash = PasswordHasher().hash(n.DEMO_PASSWORD)
    totals = expected_counts(plan)
    main_rows = sum(totals.values())
    workers = _default_workers(main_rows) if workers is None else workers
    if workers and "fork" not in multiprocessing.get_all_start_methods():
        workers = 0
    if check_foreign_keys is None:
        check_foreign_keys = main_rows < 1_000_000
    _PLAN, _DIALECT = plan, engine.dialect
    counts: dict[str, int] = dict.fromkeys(TABLES_IN_ORDER, 0)
    writer = _Writer(engine)
    deferred: dict[str, list[tuple[str, str]]] = {}
    last_part_of: dict[str, int] = {}
    parts = plan.parts()
    for position, (table, _chunk) in enumerate(parts):
        last_part_of[table] = position
    result = LoadResult(skipped=False, workers=workers)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # a failed load is redone into a fresh file: no need to wait for the disk
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            if not check_foreign_keys:
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            _fts_automerge(conn, 16)  # fewer, larger segment merges while bulk loading
            conn.commit()
        if not sqlite:  # a failed load is redone from scratch: no need to wait for the WAL
            conn.exec_driver_sql("SET synchronous_commit = off")
            conn.exec_driver_sql("SET maintenance_work_mem = '256MB'")  # index builds
            conn.commit()
        try:
            with _rendered(parts, workers) as results:
                observer.planned(totals)
                clock = time.perf_counter()
                for position, (table, _chunk) in enumerate(parts):
                    prepared = next(results)
                    now = time.perf_counter()
                    result.waiting_seconds += now - clock
                    if totals.get(table, 0) >= defer_indexes_from and table not in deferred:
                        deferred[table] = _drop_indexes(conn, table)
                    with conn.begin():
                        for part in prepared:
                            writer.write(conn, part)
                    for part in prepared:
                        counts[part.table] += len(part.rows)
                        observer.loaded(part.table, len(part.rows))
                    clock = time.perf_counter()
                    result.writing_seconds += clock - now
                    if position == last_part_of[table] and deferred.get(table):
                        observer.note(f"indexing {table}")
                        _create_indexes(conn, deferred.pop(table))
                        result.indexing_seconds += time.perf_counter() - clock
                        clock = time.perf_counter()
        finally:
            if conn.in_transaction():
                conn.rollback()
            for leftover in deferred.values():
                _create_indexes(conn, leftover)
            if sqlite:
                _fts_automerge(conn, 4)  # SQLite's default
                conn.commit()
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
            if not sqlite:
                conn.exec_driver_sql("RESET synchronous_commit")
                conn.exec_driver_sql("RESET maintenance_work_mem")
                conn.commit()
            _PLAN = None
    _grant_roles(engine, plan)
    observer.note("analysing")
    _finish(engine)
    result.counts = {k: v for k, v in counts.items() if v}
    result.seconds = time.perf_counter() - started
    return result


ROLE_OF_PLAN = {"manager": "sales_manager", "rep": "sales_rep", "agent": "service_agent"}


def _grant_roles(engine: Engine, plan: Plan) -> None:
    """Demo users hold the built-in role of their job; the two demo logins are admins."""
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from rapport.trust.models import UserRole
    from rapport.trust.roles import ensure_builtin_roles

    with Session(engine) as session:
        ids = ensure_builtin_roles(session)
        session.execute(insert(UserRole), [
            {"user_id": u.id, "role_id": ids["admin" if u.is_admin else ROLE_OF_PLAN[u.role]]}
            for u in plan.users])
        session.commit()


def _search_tables() -> list[str]:
    return [
        spec.search_table for name in TABLES_IN_ORDER
        if (spec := OBJECTS.get(object_for_table(name))) is not None and spec.search_table
    ]


def _fts_automerge(conn: Connection, level: int) -> None:
    for search_table in _search_tables():
        conn.exec_driver_sql(
            f"INSERT INTO {search_table} ({search_table}, rank) VALUES ('automerge', {level})"  # noqa: S608
        )


def _drop_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """Drop what slows a bulk load down; returns (name, statement that restores it).

    Secondary indexes everywhere; on PostgreSQL also the search table's indexes and the
    table's foreign keys, whose per-row triggers cost more than one validating pass after.
    """
    tables = [table]
    spec = OBJECTS.get(object_for_table(table))
    postgres = conn.dialect.name == "postgresql"
    if postgres and spec is not None and spec.search_table:
        tables.append(spec.search_table)
    deferred: list[tuple[str, str]] = []
    with conn.begin():
        for name in tables:
            for index, sql in _secondary_indexes(conn, name):
                conn.execute(text(f'DROP INDEX "{index}"'))
                deferred.append((index, sql))
        if postgres:
            keys = conn.execute(
                text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                     "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' ORDER BY conname"),
                {"t": table},
            ).all()
            for key, definition in keys:
                conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{key}"'))
                deferred.append((key, f'ALTER TABLE {table} ADD CONSTRAINT "{key}" {definition}'))
    return deferred


def _create_indexes(conn: Connection, deferred: list[tuple[str, str]]) -> None:
    with conn.begin():
        for _name, sql in deferred:
            conn.execute(text(sql))


class _rendered:  # noqa: N801 - used as a context manager like a function
    """Rendered parts in order; with workers, a bounded window of chunks in flight."""

    def __init__(self, parts: list[tuple[str, int]], workers: int) -> None:
        self.parts = parts
        self.workers = workers
        self.pool: Any = None

    def __enter__(self) -> Iterator[list[Prepared]]:
        if not self.workers:
            return (_render_part(part) for part in self.parts)
        self.pool = multiprocessing.get_context("fork").Pool(self.workers)
        return self._windowed()

    def _windowed(self) -> Iterator[list[Prepared]]:
        pending: deque[Any] = deque()
        queue = iter(self.parts)
        for part in queue:
            pending.append(self.pool.apply_async(_render_part, (part,)))
            if len(pending) >= self.workers * 3 + 2:
                break
        while pending:
            result = pending.popleft().get()
            following = next(queue, None)
            if following is not None:
                pending.append(self.pool.apply_async(_render_part, (following,)))
            yield result

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _finish(engine: Engine) -> None:
    """Move id sequences past the explicit ids (PostgreSQL) and refresh planner statistics."""
    tables = [*TABLES_IN_ORDER]
    searched = _search_tables()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for name in tables:
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"
                ))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"ANALYZE {', '.join(tables + searched)}"))
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA analysis_limit=1000")
        for name in tables:
            conn.exec_driver_sql(f"ANALYZE {name}")
