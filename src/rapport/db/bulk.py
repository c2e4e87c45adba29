"""Many-row UPDATE by primary key in one statement (the data hub's batch writes).

``session.execute(update(...), rows)`` is an executemany: SQLAlchemy builds the parameters of
every row in Python and SQLite runs the statement once per row. On SQLite 3.33+ the rows
travel instead as one JSON array, each row's values already converted by the columns' own
bind processors (JSON columns as their stored text, times in the stored format), and one
``UPDATE … FROM json_each(…)`` applies them all. Elsewhere (PostgreSQL, older SQLite) it is
the executemany.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.orm import Session

UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33)


def update_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]],
                key: str = "id") -> None:
    """``UPDATE table SET <every other key of the row> WHERE key = row[key]`` for each row
    (all rows carry the same keys)."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != key]
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite" or not UPDATE_FROM:
        stmt = (update(table).where(table.c[key] == bindparam("_key"))
                .values({name: bindparam(name) for name in columns}))
        session.execute(stmt, [{"_key": row[key], **{n: row[n] for n in columns}} for row in rows])
        return
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                  for name in columns]
    packed = [[row[key], *[(process(row[name]) if process is not None else row[name])
                           for name, process in zip(columns, processors, strict=True)]]
              for row in rows]
    assignments = ", ".join(f'"{name}" = json_extract(v.value, \'$[{n}]\')'
                            for n, name in enumerate(columns, start=1))
    session.execute(text(
        f'UPDATE "{table.name}" SET {assignments} FROM json_each(:rows) AS v '  # noqa: S608 - names from the table
        f'WHERE "{table.name}"."{key}" = json_extract(v.value, \'$[0]\')'),
        {"rows": orjson.dumps(packed).decode()})
