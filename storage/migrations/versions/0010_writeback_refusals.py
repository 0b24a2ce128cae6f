"""writeback_ledger remembers a write HubSpot's validation rules refused: refused_at, refused_message, refused_hash.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("writeback_ledger") as batch:
        batch.add_column(sa.Column("refused_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("refused_message", sa.String(), nullable=True))
        batch.add_column(sa.Column("refused_hash", sa.String(), nullable=True))
        batch.create_index("ix_writeback_ledger_refused_at", ["refused_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("writeback_ledger") as batch:
        batch.drop_index("ix_writeback_ledger_refused_at")
        batch.drop_column("refused_hash")
        batch.drop_column("refused_message")
        batch.drop_column("refused_at")
