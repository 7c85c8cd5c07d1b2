"""allotment's fourth revision: the periodic tasks' lease table.

``allotment_periodic_tasks`` holds, per periodic task, when it last ran and
which worker ran it, so that one worker of the whole deployment runs it per
interval (``storage/periodic.py``). Its rows are written by the workers
(the first claim of a task inserts its row). Purely additive: the
reference ignores it. Run again after ``placement-manage db stamp
a082b8bb98d0`` handed the database to the reference and a later ``db
sync`` brought it back, it keeps the table and its rows.

Revision ID: 8e4b6f0a2c19
Revises: 3d9a41c7e5b2
"""

import sqlalchemy as sa
from alembic import op

revision = "8e4b6f0a2c19"
down_revision = "3d9a41c7e5b2"
branch_labels = None
depends_on = None

TASKS = "allotment_periodic_tasks"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TASKS):
        return
    op.create_table(
        TASKS,
        sa.Column("name", sa.String(64), autoincrement=False, nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
