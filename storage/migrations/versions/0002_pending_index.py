"""contact_kpis: index (push_pending, contact_id) instead of (push_pending).

The write-back reads pending rows 100 at a time in contact id order; with an index on the flag alone, each batch
sorted every pending row (a full first write-back grew quadratically with the portal).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_kpis") as batch_op:
        batch_op.drop_index("ix_contact_kpis_push_pending")
        batch_op.create_index("ix_contact_kpis_pending", ["push_pending", "contact_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_kpis") as batch_op:
        batch_op.drop_index("ix_contact_kpis_pending")
        batch_op.create_index("ix_contact_kpis_push_pending", ["push_pending"], unique=False)
