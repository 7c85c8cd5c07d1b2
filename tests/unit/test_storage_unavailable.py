"""Database errors meaning "not now" become 503 (``engine.is_unavailable``
and the API's error handler), persistent deadlocks become 409: without any
database server.

Connecting to a port nobody listens on (127.0.0.1) gives the driver's
"cannot connect" error; a Galera node's 1047 and 1180 are built by hand.
"""

import prometheus_client
import pymysql
import pytest
import sqlalchemy as sa

from allotment import exceptions
from allotment.api import app as api_app
from allotment.api import errors
from allotment.candidates import snapshot
from allotment.storage import engine
from tests import support
from tests.scaleout import free_port


def _dead_url(backend):
    port = free_port()
    if backend == "mysql":
        return "mysql+pymysql://root@127.0.0.1:%d/placement" % port
    return "postgresql+psycopg://postgres@127.0.0.1:%d/placement" % port


@pytest.fixture(params=["mysqldb", "pymysql"])
def mysql_driver(request, monkeypatch):
    """Each MySQL driver allotment may speak with."""
    if request.param == "mysqldb":
        pytest.importorskip("MySQLdb")
    monkeypatch.setattr(engine, "mysql_driver", lambda: request.param)
    return request.param


@pytest.mark.parametrize("backend", ["mysql", "postgresql"])
def test_unreachable_server_is_unavailable(backend, mysql_driver):
    database = engine.Database(_dead_url(backend))
    assert database.engine.dialect.driver in ("psycopg", mysql_driver)
    try:
        with (
            pytest.raises(sa.exc.OperationalError) as caught,
            database.read() as conn,
        ):
            conn.execute(sa.text("SELECT 1"))
    finally:
        database.dispose()
    assert engine.is_unavailable(caught.value)


@pytest.mark.parametrize(
    "code, message, expected",
    [
        (1047, "WSREP has not yet prepared node for application use", True),
        (
            1180,
            "Error while appending streaming replication fragment(provider "
            "status: Not connected to Primary Component)",
            True,
        ),
        (2003, "Can't connect to MySQL server", True),
        (1213, "Deadlock found when trying to get lock", False),
        (1062, "Duplicate entry", False),
    ],
)
def test_mysql_codes(code, message, expected):
    # PyMySQL gives its errors the server's SQLSTATE too (HY000 for 1180).
    for sqlstate in (None, "HY000", "08S01", "40001"):
        error = pymysql.err.OperationalError(code, message)
        error.sqlstate = sqlstate
        wrapped = sa.exc.OperationalError("SELECT 1", {}, error)
        assert engine.is_unavailable(wrapped) is expected


def test_api_answers_503_in_placement_format(tmp_path):
    conf = support.make_conf(_dead_url("mysql"))
    database = engine.Database.from_conf(conf)
    client = support.ApiClient.__new__(support.ApiClient)
    client.conf, client.db = conf, database
    client.app = api_app.build(conf, database=database, prepare=False)
    try:
        resp = client.get("/resource_providers", version="1.39")
        assert resp.status_code == 503, resp.text
        assert resp.headers["retry-after"] == str(errors.RETRY_AFTER)
        error = resp.json["errors"][0]
        assert error["status"] == 503
        assert error["title"] == "Service Unavailable"
        assert "database is unavailable" in error["detail"]
        assert "SELECT" not in error["detail"]
        resp = client.put(
            "/allocations/%s" % "7f3c4a52-8d1e-4c55-9a39-3fbd6c1a2b10",
            {
                "allocations": {},
                "project_id": "p",
                "user_id": "u",
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
            },
            version="1.39",
        )
        assert resp.status_code == 503, resp.text
    finally:
        snapshot.for_database(database).stop()
        database.dispose()


def _deadlock_retries():
    return (
        prometheus_client.REGISTRY.get_sample_value(
            "allotment_write_retries_total", {"reason": "deadlock"}
        )
        or 0
    )


def test_persistent_deadlock_is_409(monkeypatch):
    database = engine.Database("sqlite://")
    calls = []

    def work(conn):
        calls.append(1)
        raise sa.exc.OperationalError(
            "UPDATE allotment_change_head",
            {},
            pymysql.err.OperationalError(
                1213, "Deadlock found when trying to get lock"
            ),
        )

    monkeypatch.setattr(engine.time, "sleep", lambda _s: None)
    before = _deadlock_retries()
    try:
        with pytest.raises(exceptions.ConcurrentUpdate) as caught:
            database.run_write(work)
    finally:
        database.dispose()
    assert len(calls) == engine._WRITE_RETRIES
    # Each run but the last was a retry, counted for the metrics.
    assert _deadlock_retries() - before == engine._WRITE_RETRIES - 1
    assert caught.value.status == 409
    assert caught.value.code == exceptions.CONCURRENT_UPDATE


def test_unavailable_is_logged_without_sql(caplog, mysql_driver):
    conf = support.make_conf(_dead_url("mysql"))
    database = engine.Database.from_conf(conf)
    client = support.ApiClient.__new__(support.ApiClient)
    client.conf, client.db = conf, database
    client.app = api_app.build(conf, database=database, prepare=False)
    try:
        assert client.get("/resource_providers").status_code == 503
    finally:
        snapshot.for_database(database).stop()
        database.dispose()
    messages = [
        r.getMessage()
        for r in caplog.records
        if "database unavailable" in r.getMessage()
    ]
    # Cannot connect: 2003 from PyMySQL, 2002 from mysqlclient.
    assert messages and ("2003" in messages[-1] or "2002" in messages[-1])
    assert "SELECT" not in messages[-1]
