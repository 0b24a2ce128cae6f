"""added_touches: calls and emails new since the last KPI refresh, added to their cells without a month recount.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "added_touches",
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("marked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("type", "id"),
    )


def downgrade() -> None:
    op.drop_table("added_touches")
