"""data hub: dead letters say whether their payload is an event or a source's own payload

A webhook body or MQTT message the source's mapping could not map is kept as it arrived;
``payload_format`` ("webhook", "mqtt") tells the replay to run the source's mapping again.
NULL (every existing row) is an event, replayed as before.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("payload_format", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("payload_format")
