"""index opportunities by stage and amount (pipeline board, filtered lists)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_opportunities_stage_amount", "opportunities", ["stage_id", "amount"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_opportunities_stage_amount", table_name="opportunities")
