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
from tests import support
from tests.conftest import BACKENDS
from tests.conftest import REQUIRED

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


def _traffic(db, monkeypatch):
    """Every statement, COMMIT and ROLLBACK a connection to a database
    server sends (psycopg's commit and rollback send nothing outside a
    transaction; the MySQL drivers' always do)."""
    sent = []
    with db.engine.connect() as conn:
        connection = type(conn.connection.dbapi_connection)
    for name in ("commit", "rollback"):
        real = getattr(connection, name)

        def counted(dbapi_conn, _real=real, _name=name):
            info = getattr(dbapi_conn, "info", None)
            status = getattr(info, "transaction_status", None)
            if status is None or status.name != "IDLE":
                sent.append(_name.upper())
            return _real(dbapi_conn)

        monkeypatch.setattr(connection, name, counted)

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def statement(_conn, _cursor, sql, *_args):
        sent.append(sql.split()[0].upper())

    return sent


def test_transactions_are_begun_and_ended_as_needed(backend, api, monkeypatch):
    """PostgreSQL and MySQL (``Database._setup_transactions``): a plain
    read sends its statement alone; a write and a consistent read begin a
    transaction and end it; a write that fails leaves nothing behind, not
    even for the next START TRANSACTION to commit."""
    if backend == "sqlite":
        pytest.skip("a database server's transactions")
    _check_transactions(api.db, monkeypatch)


def test_mysql_runs_on_mysqlclient(backend, api):
    """MySQL is spoken to with mysqlclient wherever it is installed, as it
    must be in CI, whatever driver the URL names (the shared server's test
    URL names PyMySQL, as the reference's deployments do)."""
    if backend != "mysql":
        pytest.skip("MySQL's driver")
    if engine.mysql_driver() != "mysqldb" and not REQUIRED:
        pytest.skip("mysqlclient is not installed")
    assert api.db.engine.dialect.driver == "mysqldb"


def test_pymysql_serves_where_mysqlclient_is_missing(
    make_database_url, monkeypatch
):
    """Without mysqlclient, PyMySQL: the same transactions and answers."""
    if "mysql" not in BACKENDS:
        pytest.skip("MySQL not among the backends tested")
    monkeypatch.setattr(engine, "mysql_driver", lambda: "pymysql")
    client = support.ApiClient.create(make_database_url("mysql"))
    try:
        assert client.db.engine.dialect.driver == "pymysql"
        rp = str(uuid.uuid4())
        made = client.post("/resource_providers", {"uuid": rp, "name": "h"})
        assert made.status_code == 200
        inventory = {"resource_provider_generation": 0}
        inventory["inventories"] = {"VCPU": {"total": 8}}
        put = client.put("/resource_providers/%s/inventories" % rp, inventory)
        assert put.status_code == 200
        consumer = str(uuid.uuid4())
        claim = {
            "allocations": {rp: {"resources": {"VCPU": 3}}},
            "project_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()),
            "consumer_generation": None,
            "consumer_type": "INSTANCE",
        }
        claimed = client.put("/allocations/%s" % consumer, claim)
        assert claimed.status_code == 204, claimed.text
        usages = client.get("/resource_providers/%s/usages" % rp).json
        assert usages["usages"] == {"VCPU": 3}
        _check_transactions(client.db, monkeypatch)
    finally:
        client.close()


def _check_transactions(db, monkeypatch):
    sent = _traffic(db, monkeypatch)
    with db.read() as conn:
        before = conn.scalar(COUNT)
    assert sent == ["SELECT"]
    sent.clear()
    _commit_a_trait(db)
    assert sent[0] == "START"
    assert sent[-1] == "COMMIT"
    assert "ROLLBACK" not in sent
    sent.clear()
    with db.read(consistent=True) as conn:
        conn.scalar(COUNT)
    if db.backend == "postgresql":
        # (COMMIT, not ROLLBACK: psycopg forgets its prepared statements
        # at a ROLLBACK)
        assert sent == ["START", "SELECT", "COMMIT"]
    else:
        assert sent == ["SET", "START", "SELECT", "ROLLBACK"]

    class Failed(Exception):
        pass

    with pytest.raises(Failed), db.write() as conn:
        conn.execute(
            TRAITS.insert().values(name="CUSTOM_LOST", created_at=utcnow())
        )
        raise Failed
    _commit_a_trait(db)
    with db.read() as conn:
        assert conn.scalar(COUNT) == before + 2
        lost = TRAITS.select().where(TRAITS.c.name == "CUSTOM_LOST")
        assert conn.execute(lost).first() is None
