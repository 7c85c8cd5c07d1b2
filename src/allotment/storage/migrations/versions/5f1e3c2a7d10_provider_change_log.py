"""allotment's first own revision: the provider change log.

An append-only table of provider ids whose inventory, usage, traits,
aggregates or place in a tree changed; API workers read it to keep their
in-memory provider snapshot current. Purely additive: the reference ignores
the table, so `placement-manage db stamp a082b8bb98d0` hands the database
back to it. Coming back after such a stamp, ``db sync`` runs this revision
again over the tables it left: it creates only what is missing
(7c1e0b9d4a52 then reshapes the log and makes every reader reload).

Revision ID: 5f1e3c2a7d10
Revises: a082b8bb98d0
"""

import sqlalchemy as sa
from alembic import op

revision = "5f1e3c2a7d10"
down_revision = "a082b8bb98d0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("allotment_provider_changes"):
        return
    op.create_table(
        "allotment_provider_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(
        "allotment_provider_changes_created_at_idx",
        "allotment_provider_changes",
        ["created_at"],
    )
