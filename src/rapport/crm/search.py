"""Full-text search: documents per record, queries for SQLite FTS5 and PostgreSQL.

Chinese has no spaces between words, so CJK characters are indexed one by one and a CJK
query becomes a phrase of characters; this finds two-character names like 王伟.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.sql.elements import ColumnElement

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
    """Terms of a user query as (term, is_cjk_phrase)."""
    query = query.strip()
    if _PHONE_QUERY.match(query):
        return [(re.sub(r"\D", "", query), False)]
    terms: list[tuple[str, bool]] = []
    for chunk in query.split():
        pieces = [p for p in _CJK.split(chunk) if p]
        cjk = [p for p in pieces if _CJK.fullmatch(p)]
        if cjk:
            terms.append((" ".join(cjk), True))
        for piece in pieces:
            if not _CJK.fullmatch(piece):
                terms.extend((w.lower(), False) for w in _WORD.findall(piece))
    return terms[:8]


def fts5_query(query: str) -> str | None:
    parts = []
    for term, is_phrase in query_terms(query):
        if is_phrase:
            parts.append(f'"{term}"')
        else:
            parts.append(f'"{term}"*')
    return " AND ".join(parts) or None


def tsquery(query: str) -> str | None:
    parts = []
    for term, is_phrase in query_terms(query):
        if is_phrase:
            parts.append("(" + " <-> ".join(term.split()) + ")")
        else:
            parts.append(f"{term}:*")
    return " & ".join(parts) or None


def matching_ids(dialect: str, search_table: str, query: str, id_column: Any) -> ColumnElement[bool]:
    """A WHERE clause restricting ``id_column`` to records matching ``query``."""
    from sqlalchemy import false, literal_column

    if dialect == "sqlite":
        match = fts5_query(query)
        if match is None:
            return false()
        sub = text(
            f"SELECT rowid FROM {search_table} WHERE {search_table} MATCH :q"  # noqa: S608
        ).bindparams(q=match)
        return id_column.in_(sub.columns(literal_column("rowid")))
    ts = tsquery(query)
    if ts is None:
        return false()
    like = "%" + query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    clause = f"tsv @@ to_tsquery('simple', :ts)"
    params: dict[str, Any] = {"ts": ts}
    if len(query.strip()) >= 3:
        clause += " OR body ILIKE :like"
        params["like"] = like
    sub = text(
        f"SELECT record_id FROM {search_table} WHERE {clause}"  # noqa: S608
    ).bindparams(**params)
    return id_column.in_(sub.columns(literal_column("record_id")))


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
