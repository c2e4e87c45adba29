"""Full-text search: documents per record, queries for SQLite FTS5 and PostgreSQL.

Chinese has no spaces between words, so CJK characters are indexed one by one and a CJK
query becomes a phrase of characters; this finds two-character names like 王伟.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, column, false, select, table, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Join

from rapport.crm.normalise import phone_search_variants
from rapport.crm.registry import KIND_PHONE, ObjectSpec

_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af])")
_WORD = re.compile(r"[\w]+", re.UNICODE)
_PHONE_QUERY = re.compile(r"^\+?[\d\s\-()]{5,}$")


def spaced_cjk(value: str) -> str:
    return _CJK.sub(r" \1 ", value)


def document_text(spec: ObjectSpec, values: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for field in spec.fields.values():
        if not field.searchable:
            continue
        value = values.get(field.name)
        if not value:
            continue
        text_value = str(value)
        parts.append(text_value)
        if field.kind == KIND_PHONE:
            parts.extend(phone_search_variants(text_value))
    first, last = values.get("first_name"), values.get("last_name")
    if first and last:  # Chinese names read family name first: 王伟 as well as 伟 王
        parts.append(f"{last}{first}")
    for key, value in (values.get("custom") or {}).items():
        if isinstance(value, str) and not key.startswith("_"):
            parts.append(value)
    return spaced_cjk(" ".join(parts))[:20_000]


def query_terms(query: str) -> list[tuple[str, bool]]:
    """Terms of a user query as (term, is_phrase).

    A phone-like query becomes its digits; CJK runs and chunks such as e-mail addresses
    (several words glued by punctuation) become phrases; a single word matches by prefix.
    """
    query = query.strip()
    if _PHONE_QUERY.match(query):
        return [(re.sub(r"\D", "", query), False)]
    terms: list[tuple[str, bool]] = []
    for chunk in query.split():
        pieces = [p for p in _CJK.split(chunk) if p]
        cjk = [p for p in pieces if _CJK.fullmatch(p)]
        if cjk:
            terms.append((" ".join(cjk), True))
        words = [w.lower() for p in pieces if not _CJK.fullmatch(p) for w in _WORD.findall(p)]
        if len(words) == 1:
            terms.append((words[0], False))
        elif words:
            terms.append((" ".join(words), True))
    return terms[:8]


def fts5_query(query: str) -> str | None:
    parts = [f'"{term}"' if is_phrase else f'"{term}" *' for term, is_phrase in query_terms(query)]
    return " AND ".join(parts) or None


def tsquery(query: str) -> str | None:
    parts = []
    for term, is_phrase in query_terms(query):
        words = [w.replace("'", "") for w in term.split()]
        if is_phrase:
            parts.append("(" + " <-> ".join(f"'{w}'" for w in words) + ")")
        else:
            parts.append(f"'{words[0]}':*")
    return " & ".join(parts) or None


class OrderedJoin(Join):
    """A join whose left side drives the loop: ``CROSS JOIN`` on SQLite.

    Without it SQLite may walk another index and probe FTS5 once per row (seconds at 1M rows).
    """

    inherit_cache = True


@compiles(OrderedJoin, "sqlite")
def _render_ordered_join(element: OrderedJoin, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    kw.pop("asfrom")
    return f"{left} CROSS JOIN {right} ON {compiler.process(element.onclause, **kw)}"


# Matches scanned at most when counting a search that also has filters.
COUNT_SCAN_BUDGET = 20_000


@dataclass(frozen=True)
class SearchSource:
    """How to restrict a select to matching records.

    On SQLite the FTS5 table is joined and its rowid drives the order (an index walk that
    stops after one page); on PostgreSQL matching ids come from the GIN-indexed table.
    """

    join: Any | None
    on: ColumnElement[bool] | None
    where: Any  # a boolean clause (text or column expression)
    rowid: Any | None
    budget_join: Any | None = None  # the matches, limited to COUNT_SCAN_BUDGET rows


def _pg_tsquery_sql(query: str) -> tuple[str, dict[str, Any]] | None:
    """A tsquery built by PostgreSQL's own parser, so an e-mail is one token as when indexed."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, (term, is_phrase) in enumerate(query_terms(query)):
        key = f"ts_{i}"
        if is_phrase:
            original = term if _CJK.search(term) else _original_chunk(query, term)
            parts.append(f"phraseto_tsquery('simple', :{key})")
            params[key] = original
        else:
            parts.append(f"to_tsquery('simple', :{key})")
            params[key] = "'" + term.replace("'", "") + "':*"
    if not parts:
        return None
    return " && ".join(parts), params


def _original_chunk(query: str, joined_words: str) -> str:
    """The chunk of the user's query that produced ``joined_words`` (e.g. the raw e-mail)."""
    for chunk in query.split():
        words = [w.lower() for w in _WORD.findall(chunk)]
        if " ".join(words) == joined_words:
            return chunk.lower()
    return joined_words


def search_source(
    dialect: str, search_table: str, query: str, id_column: Any, *, substring: bool = False
) -> SearchSource:
    """Matching records; ``substring`` (PostgreSQL) matches inside words with trigrams."""
    if dialect == "sqlite":
        match = fts5_query(query)
        if match is None:
            return SearchSource(None, None, false(), None)
        fts = table(search_table, column("rowid"))
        where = text(f"{search_table} MATCH :fts_q").bindparams(fts_q=match)
    else:
        fts = table(search_table, column("record_id"))
        if substring:
            stripped = query.strip()
            escaped = re.sub(r"([\\%_])", r"\\\1", stripped)
            where = text(f"{search_table}.body ILIKE :like").bindparams(like=f"%{escaped}%")
        else:
            built = _pg_tsquery_sql(query)
            if built is None:
                return SearchSource(None, None, false(), None)
            sql, params = built
            where = text(f"{search_table}.tsv @@ ({sql})").bindparams(**params)
    rowid = fts.c.rowid if dialect == "sqlite" else fts.c.record_id
    limited = select(rowid.label("rowid")).where(where).limit(COUNT_SCAN_BUDGET).subquery("m")
    return SearchSource(fts, rowid == id_column, where, rowid, limited)


def write_documents(
    conn: Connection, dialect: str, search_table: str, docs: Iterable[tuple[int, str]]
) -> None:
    rows = [{"id": rid, "body": body} for rid, body in docs]
    if not rows:
        return
    if dialect == "sqlite":
        conn.execute(text(f"DELETE FROM {search_table} WHERE rowid = :id"), rows)  # noqa: S608
        conn.execute(
            text(f"INSERT INTO {search_table} (rowid, body) VALUES (:id, :body)"),  # noqa: S608
            rows,
        )
    else:
        conn.execute(
            text(
                f"INSERT INTO {search_table} (record_id, body) VALUES (:id, :body) "  # noqa: S608
                "ON CONFLICT (record_id) DO UPDATE SET body = EXCLUDED.body"
            ),
            rows,
        )


def delete_documents(conn: Connection, dialect: str, search_table: str, ids: list[int]) -> None:
    if not ids:
        return
    column = "rowid" if dialect == "sqlite" else "record_id"
    conn.execute(
        text(f"DELETE FROM {search_table} WHERE {column} = :id"),  # noqa: S608
        [{"id": i} for i in ids],
    )
