"""``column IN (many values)`` as one bound parameter, for the data hub's batch queries.

``column.in_(values)`` renders one placeholder per value, so SQLAlchemy rebuilds and
re-renders the statement for every batch (a measurable share of the hub pipeline's time).
Here the values travel as one parameter: a JSON array unpacked by ``json_each`` on SQLite, an
array compared with ``= ANY`` on PostgreSQL. The statement's shape never changes, so it is
compiled once and cached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values`` (strings or integers) as a single bound parameter."""
    items = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, items, type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    unpacked: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, orjson.dumps(items).decode())))
    return column.in_(unpacked)  # type: ignore[no-any-return]
