"""dirty_touch_days by owner: a changed call or email recounts its owner's cells of its month, not every owner's.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # days queued without their owners cannot be narrowed: count everything again instead
    op.execute("DELETE FROM service_state WHERE key = 'kpi_cells' AND EXISTS (SELECT 1 FROM dirty_touch_days)")
    op.drop_table("dirty_touch_days")
    op.create_table(
        "dirty_touch_days",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.String(), nullable=False),
        sa.Column("marked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("day", "owner_id"),
    )


def downgrade() -> None:
    # the queued (day, owner) marks are dropped with the table: count everything again instead
    op.execute("DELETE FROM service_state WHERE key = 'kpi_cells'")
    op.drop_table("dirty_touch_days")
    op.create_table(
        "dirty_touch_days",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("marked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("day"),
    )
