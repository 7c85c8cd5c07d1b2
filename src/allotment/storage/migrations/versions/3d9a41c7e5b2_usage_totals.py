"""allotment's third revision: usage totals per project, user and type.

``allotment_usage_totals`` and ``allotment_consumer_totals`` hold what
GET /usages adds up (``domain/usages.py`` keeps them in the transactions
that change allocations). Purely additive, like the change log: the
reference ignores them. Coming back after ``placement-manage db stamp
a082b8bb98d0`` handed the database to the reference, ``db sync`` runs this
revision again and it recomputes both tables from the allocations, so
whatever the reference wrote meanwhile is counted.

Revision ID: 3d9a41c7e5b2
Revises: 7c1e0b9d4a52
"""

import sqlalchemy as sa
from alembic import op

from allotment.storage import tables
from allotment.storage import usage_totals

revision = "3d9a41c7e5b2"
down_revision = "7c1e0b9d4a52"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table(tables.usage_totals.name):
        op.create_table(
            tables.usage_totals.name,
            sa.Column("project_id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("consumer_type_id", sa.Integer(), nullable=False),
            sa.Column("resource_class_id", sa.Integer(), nullable=False),
            sa.Column("used", sa.BigInteger(), nullable=False),
            sa.Column("allocations", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint(
                "project_id",
                "user_id",
                "consumer_type_id",
                "resource_class_id",
            ),
        )
    if not inspector.has_table(tables.consumer_totals.name):
        op.create_table(
            tables.consumer_totals.name,
            sa.Column("project_id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("consumer_type_id", sa.Integer(), nullable=False),
            sa.Column("consumers", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint(
                "project_id", "user_id", "consumer_type_id"
            ),
        )
    usage_totals.rebuild(bind)
