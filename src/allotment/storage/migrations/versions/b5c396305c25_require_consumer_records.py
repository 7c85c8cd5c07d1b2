"""Refuse to go on while an allocation has no consumer record.

Revision ID: b5c396305c25
Revises: 611cd6dffd7b
"""

import sqlalchemy as sa
from alembic import op

revision = "b5c396305c25"
down_revision = "611cd6dffd7b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    count = op.get_bind().scalar(
        sa.text(
            "SELECT COUNT(*) FROM allocations a LEFT JOIN consumers c "
            "ON a.consumer_id = c.uuid WHERE c.id IS NULL"
        )
    )
    if count:
        raise RuntimeError(
            "%d allocations have no consumer record. Run "
            "'placement-manage db online_data_migrations' first." % count
        )
