"""Refuse to go on while a provider has no root provider id.

Revision ID: 611cd6dffd7b
Revises: b4ed3a175331
"""

import sqlalchemy as sa
from alembic import op

revision = "611cd6dffd7b"
down_revision = "b4ed3a175331"
branch_labels = None
depends_on = None


def upgrade() -> None:
    count = op.get_bind().scalar(
        sa.text(
            "SELECT COUNT(*) FROM resource_providers "
            "WHERE root_provider_id IS NULL"
        )
    )
    if count:
        raise RuntimeError(
            "%d resource providers have no root provider id. Run "
            "'placement-manage db online_data_migrations' first." % count
        )
