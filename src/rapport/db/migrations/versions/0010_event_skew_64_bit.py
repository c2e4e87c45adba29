"""events.skew_ms as a 64-bit integer (clocks off by more than 24.8 days were clamped)

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite integers are 64-bit already
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "skew_ms", type_=sa.BigInteger(), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE events SET skew_ms = GREATEST(LEAST(skew_ms, 2147483647), -2147483647)")
        op.alter_column("events", "skew_ms", type_=sa.Integer(), existing_nullable=True)
