"""A deadlock inside a savepoint is retried like any other.

On MySQL and MariaDB a deadlock victim loses its whole transaction, its
savepoints included (Galera's certification failures too): leaving the
savepoint block then fails with "SAVEPOINT ... does not exist" (1305),
which hid the deadlock and answered 500 (a reshape on the Galera cluster,
seen on CI). The deadlock here is real: another transaction that has
written more holds the row the savepoint block needs next, and waits for
the one it holds.
"""

import threading

import pytest
import sqlalchemy as sa

from allotment.storage import engine

SCRATCH = sa.Table(
    "allotment_test_scratch",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("value", sa.Integer, nullable=False),
)


@pytest.fixture
def database(database_url, backend):
    if backend != "mysql":
        pytest.skip(
            "only MySQL loses its savepoints with a deadlock (SQLite writers "
            "take turns; PostgreSQL rolls back to the savepoint)"
        )
    database = engine.Database(database_url)
    with database.engine.begin() as conn:
        SCRATCH.create(conn)
        conn.execute(SCRATCH.insert(), [{"id": i, "value": 0} for i in (1, 2)])
    yield database
    with database.engine.begin() as conn:
        SCRATCH.drop(conn)
    database.dispose()


def test_deadlock_inside_a_savepoint_is_retried(database):
    attempts = []
    others = []
    other_waits = threading.Event()

    def heavier_other():
        # Row 1 first, and many rows written: the lighter transaction
        # (the unit of work below) is the one the database rolls back.
        with database.engine.begin() as conn:
            conn.execute(
                sa.update(SCRATCH).where(SCRATCH.c.id == 1).values(value=1)
            )
            conn.execute(
                SCRATCH.insert(),
                [{"id": i, "value": 0} for i in range(100, 300)],
            )
            other_waits.set()
            conn.execute(
                sa.update(SCRATCH).where(SCRATCH.c.id == 2).values(value=1)
            )
            conn.execute(sa.delete(SCRATCH).where(SCRATCH.c.id >= 100))

    def work(conn):
        attempts.append(len(attempts) + 1)
        conn.execute(
            sa.update(SCRATCH).where(SCRATCH.c.id == 2).values(value=2)
        )
        if len(attempts) == 1:
            others.append(threading.Thread(target=heavier_other))
            others[0].start()
            assert other_waits.wait(30)
            with conn.begin_nested():
                # Waits for the other's row 1 while it waits for our row 2:
                # a deadlock, and we are its victim.
                conn.execute(
                    sa.update(SCRATCH).where(SCRATCH.c.id == 1).values(value=2)
                )
        return "done"

    assert database.run_write(work) == "done"
    others[0].join(30)
    assert attempts == [1, 2]
    with database.engine.connect() as conn:
        assert dict(conn.execute(sa.select(SCRATCH)).all()) == {1: 1, 2: 2}
