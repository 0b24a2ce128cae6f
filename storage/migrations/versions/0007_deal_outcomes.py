"""deal_outcomes: each closed deal's part of K5's deal side, so that a refresh moves only the deals that changed.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deal_outcomes",
        sa.Column("deal_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_key", sa.String(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("won", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("deal_id"),
    )
    # cells counted before this table existed have no per-deal record to subtract from: count everything again
    op.execute("DELETE FROM service_state WHERE key = 'kpi_cells'")


def downgrade() -> None:
    op.drop_table("deal_outcomes")
