"""What a read sees, on every backend (``Database.read``): each statement
of a plain read sees what was committed before it began; every statement
of a consistent read sees the same point in time. The connections go back
to the pool as they came: the next read on one is plain again."""

import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import pool

from allotment.storage import engine
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


# A pooled connection's liveness (``engine._Liveness``): on PostgreSQL and
# MySQL a connection the server has ended is replaced before a read uses
# it, and one in steady use costs no ping.

_OWN_ID = {
    "postgresql": "SELECT pg_backend_pid()",
    "mysql": "SELECT CONNECTION_ID()",
}
_END = {
    "postgresql": "SELECT pg_terminate_backend(%d)",
    "mysql": "KILL %d",
}


def _own_id(db):
    with db.read() as conn:
        return conn.exec_driver_sql(_OWN_ID[db.backend]).scalar()


def _counted_pings(db, monkeypatch):
    pings = []
    dialect = db.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_conn):
        pings.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


_GONE = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE pid = %d",
    "mysql": "SELECT count(*) FROM information_schema.processlist"
    " WHERE id = %d",
}


def test_a_connection_the_server_ended_is_replaced(backend, api):
    if backend == "sqlite":
        pytest.skip("no server to end a connection")
    db = api.db
    first = _own_id(db)
    # Another session ends ours, as a restart, a kill or a timeout would,
    # and waits until it has gone.
    with sa.create_engine(db.url, poolclass=pool.NullPool).connect() as other:
        other = other.execution_options(isolation_level="AUTOCOMMIT")
        other.exec_driver_sql(_END[db.backend] % first)
        deadline = time.monotonic() + 10
        while other.exec_driver_sql(_GONE[db.backend] % first).scalar():
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert _own_id(db) != first  # answered, on a new connection
    assert api.get("/resource_providers").status_code == 200


def test_a_connection_in_steady_use_is_not_pinged(backend, api, monkeypatch):
    if backend == "sqlite":
        pytest.skip("no pool of server connections")
    _own_id(api.db)
    pings = _counted_pings(api.db, monkeypatch)
    for _ in range(5):
        _own_id(api.db)
    assert pings == []
    monkeypatch.setattr(engine, "PING_AFTER_IDLE", 0)
    _own_id(api.db)
    assert len(pings) == 1  # one idle for longer is pinged first


def test_a_mysql_connection_goes_back_rolled_back_once(
    backend, api, monkeypatch
):
    """MySQL: the pool does not roll back again a transaction that has
    ended (a committed write, a read SQLAlchemy rolled back as it closed),
    and does roll back any other (``Database._setup_mysql``)."""
    if backend != "mysql":
        pytest.skip("MySQL's pool reset")
    import pymysql

    db = api.db
    rollbacks = []
    real = pymysql.connections.Connection.rollback

    def counted(dbapi_conn):
        rollbacks.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(pymysql.connections.Connection, "rollback", counted)
    _commit_a_trait(db)
    assert len(rollbacks) == 0
    with db.read() as conn:
        conn.scalar(COUNT)
    assert len(rollbacks) == 1
    raw = db.engine.raw_connection()  # a transaction the pool cannot see
    cursor = raw.cursor()
    cursor.execute("SELECT count(*) FROM traits")
    cursor.close()
    raw.close()
    assert len(rollbacks) == 2
