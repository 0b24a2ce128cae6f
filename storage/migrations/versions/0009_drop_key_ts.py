"""sync_cursors.key_ts goes: the search keyset pages by `hs_object_id` alone inside a fixed window.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_cursors") as batch:
        batch.drop_column("key_ts")


def downgrade() -> None:
    with op.batch_alter_table("sync_cursors") as batch:
        batch.add_column(sa.Column("key_ts", sa.BigInteger(), nullable=True))
