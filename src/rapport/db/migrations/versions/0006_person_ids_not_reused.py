"""contacts and leads never reuse a deleted id on SQLite (AUTOINCREMENT)

Audit entries name people by a pseudonym derived from their record id; after an erasure a
new contact must not inherit it. PostgreSQL sequences never reuse ids; SQLite does unless the
table is declared AUTOINCREMENT, which needs the table rebuilt.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("contacts", "leads")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": False}):
            pass
