"""sync_runs carries what a run was asked to do (`options`: objects, full, reconcile, dry run, who asked), its live
progress while it runs (`progress`), and a cancel request (`cancel_requested_at`).

Revision ID: 0012
Revises: 0010 (the merge re-chains it after 0011)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("cancel_requested_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("cancel_requested_at")
        batch.drop_column("progress")
        batch.drop_column("options")
