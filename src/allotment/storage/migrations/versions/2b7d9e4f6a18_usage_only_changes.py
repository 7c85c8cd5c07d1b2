"""allotment's fifth revision: change log entries that say only usage changed.

``allotment_provider_changes.usage_only`` is true on an entry whose write
changed only the allocations against the provider (a claim, a move, a
deletion): a reader then reloads only the provider's row and usage
(``storage/changes.py``). NULL, as on every entry before it and on those a
release without the column writes, means anything of the provider may have
changed. Purely additive: the reference ignores the table. Run again after
``placement-manage db stamp a082b8bb98d0`` handed the database to the
reference and a later ``db sync`` brought it back, it keeps the column.

Revision ID: 2b7d9e4f6a18
Revises: 8e4b6f0a2c19
"""

import sqlalchemy as sa
from alembic import op

revision = "2b7d9e4f6a18"
down_revision = "8e4b6f0a2c19"
branch_labels = None
depends_on = None

LOG = "allotment_provider_changes"


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(LOG)}
    if "usage_only" in columns:
        return
    op.add_column(LOG, sa.Column("usage_only", sa.Boolean(), nullable=True))
