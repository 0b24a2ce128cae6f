"""KPI cells, opportunity credits, dirty touch days and an (type, timestamp) index on engagements.

The aggregate rows are now merged from per-owner, per-month cells kept in the store; a refresh recounts only the
cells its changes touch (contact KPIs by subtracting the old facts and adding the new, calls and emails by
recounting the months whose days were marked dirty).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dirty_touch_days",
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("marked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "kpi_cells",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("owner_key", sa.String(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "owner_key", "month"),
    )
    op.create_table(
        "opportunity_credits",
        sa.Column("deal_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("deal_id"),
    )
    with op.batch_alter_table("engagements") as batch_op:
        batch_op.create_index("ix_engagements_type_timestamp", ["type", "timestamp"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("engagements") as batch_op:
        batch_op.drop_index("ix_engagements_type_timestamp")
    op.drop_table("opportunity_credits")
    op.drop_table("kpi_cells")
    op.drop_table("dirty_touch_days")
