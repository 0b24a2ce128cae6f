"""sync_cursors learns what fewer re-reads and parallel list passes need: `settled` (every change modified before it
has been read at a time the search index already held it), `window_skips` (ranges inside the search window in
progress that it does not read), `window_ranges` (the id ranges of a large search window read side by side) and
`list_shards` (the id ranges of a list pass read side by side), each range with where it stands.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_cursors") as batch:
        batch.add_column(sa.Column("settled", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("window_skips", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("window_ranges", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("list_shards", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_cursors") as batch:
        batch.drop_column("list_shards")
        batch.drop_column("window_ranges")
        batch.drop_column("window_skips")
        batch.drop_column("settled")
