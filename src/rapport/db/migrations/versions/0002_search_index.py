"""full-text search tables (SQLite FTS5; PostgreSQL tsvector + trigram)

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHABLE = [
    "accounts", "contacts", "leads", "opportunities", "activities", "tasks", "tickets",
    "products", "quotes", "custom_records", "users",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in SEARCHABLE:
            op.execute(
                f"CREATE VIRTUAL TABLE search_{table} USING fts5("  # noqa: S608
                "body, tokenize='unicode61 remove_diacritics 2')"
            )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table in SEARCHABLE:
        op.execute(
            f"CREATE TABLE search_{table} (record_id BIGINT PRIMARY KEY, body TEXT NOT NULL, "
            "tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED)"
        )
        op.execute(f"CREATE INDEX ix_search_{table}_tsv ON search_{table} USING gin (tsv)")
        op.execute(
            f"CREATE INDEX ix_search_{table}_trgm ON search_{table} USING gin (body gin_trgm_ops)"
        )


def downgrade() -> None:
    for table in SEARCHABLE:
        op.execute(f"DROP TABLE IF EXISTS search_{table}")
