"""allotment's second revision: change numbers from a one-row counter.

Until now a change took its number from an auto-increment column, so
numbers became visible out of order, rolled-back writes and Galera's
auto_increment_increment left holes, and readers had to guess when a hole
was final. Now ``allotment_change_head`` holds the last number handed out
and a write takes the next one as the last statement of its transaction
(``storage/changes.py``): numbers are visible in commit order, without
holes. Numbers are 64-bit. The log is keyed by its own id; ``seq`` is
shared by the rows of one change.

Also run again after ``placement-manage db stamp a082b8bb98d0`` handed the
database to the reference service and a later ``db sync`` brought it back:
whatever of these tables exists is kept (an old-format log is replaced),
the head moves past every number ever handed out, and one "everything
changed" entry makes every reader reload what the reference wrote.

Revision ID: 7c1e0b9d4a52
Revises: 5f1e3c2a7d10
"""

import datetime

import sqlalchemy as sa
from alembic import op

revision = "7c1e0b9d4a52"
down_revision = "5f1e3c2a7d10"
branch_labels = None
depends_on = None

LOG = "allotment_provider_changes"
HEAD = "allotment_change_head"


def _create_log() -> None:
    op.create_table(
        LOG,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("allotment_provider_changes_seq_idx", LOG, ["seq"])
    op.create_index(
        "allotment_provider_changes_created_at_idx", LOG, ["created_at"]
    )


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    last = 0
    if inspector.has_table(HEAD):
        last = (
            bind.execute(sa.text("SELECT MAX(seq) FROM %s" % HEAD)).scalar()
            or 0
        )
    else:
        op.create_table(
            HEAD,
            sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("seq", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
    columns = {c["name"] for c in inspector.get_columns(LOG)}
    if "id" not in columns:  # the first revision's log: seq was the key
        old = (
            bind.execute(sa.text("SELECT MAX(seq) FROM %s" % LOG)).scalar()
            or 0
        )
        last = max(last, old)
        op.drop_table(LOG)
        _create_log()
    else:
        old = (
            bind.execute(sa.text("SELECT MAX(seq) FROM %s" % LOG)).scalar()
            or 0
        )
        last = max(last, old)
    last += 1
    bind.execute(sa.text("DELETE FROM %s" % HEAD))
    bind.execute(
        sa.text("INSERT INTO %s (id, seq) VALUES (1, :seq)" % HEAD),
        {"seq": last},
    )
    bind.execute(
        sa.text(
            "INSERT INTO %s (seq, provider_id, created_at) "
            "VALUES (:seq, NULL, :now)" % LOG
        ),
        {
            "seq": last,
            "now": datetime.datetime.now(datetime.UTC).replace(
                tzinfo=None, microsecond=0
            ),
        },
    )
