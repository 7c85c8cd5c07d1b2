"""allotment's first own revision: the provider change log.

An append-only table of provider ids whose inventory, usage, traits,
aggregates or place in a tree changed; API workers read it to keep their
in-memory provider snapshot current. Purely additive: the reference ignores
the table, so `placement-manage db stamp a082b8bb98d0` hands the database
back to it.

Revision ID: 5f1e3c2a7d10
Revises: a082b8bb98d0
"""

from alembic import op
import sqlalchemy as sa

revision = "5f1e3c2a7d10"
down_revision = "a082b8bb98d0"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "allotment_provider_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("allotment_provider_changes_created_at_idx",
                    "allotment_provider_changes", ["created_at"])
