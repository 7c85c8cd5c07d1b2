"""What a read sees, on every backend (``Database.read``): each statement
of a plain read sees what was committed before it began; every statement
of a consistent read sees the same point in time. The connections go back
to the pool as they came: the next read on one is plain again."""

import uuid

import sqlalchemy as sa

from allotment.storage import tables
from allotment.storage.clock import utcnow

TRAITS = tables.traits
COUNT = sa.select(sa.func.count()).select_from(TRAITS)


def _commit_a_trait(db):
    with db.write() as conn:
        conn.execute(
            TRAITS.insert().values(
                name="CUSTOM_%s" % uuid.uuid4().hex.upper(),
                created_at=utcnow(),
            )
        )


def test_plain_read_sees_each_commit(api):
    with api.db.read() as conn:
        before = conn.scalar(COUNT)
        _commit_a_trait(api.db)
        assert conn.scalar(COUNT) == before + 1


def test_consistent_read_sees_one_point_in_time(api):
    for _ in range(2):  # and again on the connection the pool got back
        with api.db.read(consistent=True) as conn:
            before = conn.scalar(COUNT)
            _commit_a_trait(api.db)
            assert conn.scalar(COUNT) == before
        with api.db.read() as conn:
            before = conn.scalar(COUNT)
            _commit_a_trait(api.db)
            assert conn.scalar(COUNT) == before + 1
