"""data hub: the embedded processor's queue index, duplicate counts per source and hour

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rapport.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("processed_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_events_unprocessed", "events", ["id"], unique=False,
                    sqlite_where=WAITING, postgresql_where=WAITING)
    op.create_table(
        "event_duplicates",
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hour", rapport.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"],
                                name=op.f("fk_event_duplicates_source_id_sources"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id", "hour", name=op.f("pk_event_duplicates")),
    )


def downgrade() -> None:
    op.drop_table("event_duplicates")
    op.drop_index("ix_events_unprocessed", table_name="events")
