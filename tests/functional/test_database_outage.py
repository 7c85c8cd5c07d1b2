"""The database goes away and comes back: requests answer 503 with
Retry-After (in Placement's JSON error format) within a bounded time while
it is gone, write nothing, and the service recovers with no restart.

Each test runs its own PostgreSQL or MariaDB server
(tests/private_postgres.py, tests/private_mariadb.py) and stops it; the
shared servers are never touched.
"""

import socket
import time

import pytest

from allotment.storage import engine
from tests import support

RP = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
CONSUMER = "0b5d0c7e-36a7-4d3b-9f7e-5a3c8d7e2f11"
BOUND = 15  # seconds any request may take while the database is away


def _requests():
    """(method, path, body) of reads and writes on several routes."""
    return [
        ("GET", "/resource_providers", None),
        ("GET", "/resource_providers/" + RP, None),
        ("GET", "/resource_providers/%s/inventories" % RP, None),
        (
            "PUT",
            "/resource_providers/%s/inventories" % RP,
            {
                "resource_provider_generation": 1,
                "inventories": {"VCPU": {"total": 4}},
            },
        ),
        ("POST", "/resource_providers", {"name": "new"}),
        (
            "PUT",
            "/allocations/" + CONSUMER,
            {
                "allocations": {RP: {"resources": {"VCPU": 1}}},
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
                "project_id": "p",
                "user_id": "u",
            },
        ),
        ("GET", "/usages?project_id=p", None),
    ]


def _seed(api):
    assert (
        api.post(
            "/resource_providers", {"name": "cn1", "uuid": RP}
        ).status_code
        == 200
    )
    resp = api.put(
        "/resource_providers/%s/inventories" % RP,
        {
            "resource_provider_generation": 0,
            "inventories": {"VCPU": {"total": 8}},
        },
    )
    assert resp.status_code == 200, resp.text


def _assert_unavailable(api):
    for method, path, body in _requests():
        started = time.monotonic()
        resp = api.request(method, path, body=body)
        elapsed = time.monotonic() - started
        where = "%s %s -> %s %s" % (
            method,
            path,
            resp.status_code,
            resp.text[:300],
        )
        assert resp.status_code == 503, where
        assert elapsed < BOUND, where
        assert resp.headers["retry-after"].isdigit(), where
        assert resp.headers["content-type"] == "application/json"
        error = resp.json["errors"][0]
        assert error["status"] == 503
        assert error["title"] == "Service Unavailable"
        assert "database is unavailable" in error["detail"]
        assert "SELECT" not in error["detail"], where
        assert error["request_id"] == resp.headers["x-openstack-request-id"]


def _assert_recovered(api):
    assert api.get("/resource_providers").status_code == 200
    # Nothing tried during the outage was written: the generation is the
    # seed's, the consumer has no allocations and "new" does not exist.
    resp = api.get("/resource_providers/%s/inventories" % RP)
    assert resp.json["resource_provider_generation"] == 1
    assert resp.json["inventories"]["VCPU"]["total"] == 8
    assert api.get("/allocations/" + CONSUMER).json["allocations"] == {}
    assert (
        api.get("/resource_providers?name=new").json["resource_providers"]
        == []
    )
    for method, path, body in _requests():
        resp = api.request(method, path, body=body)
        assert resp.status_code < 300, (method, path, resp.text)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_stopped_database_answers_503_then_recovers(private_postgres, mode):
    api = support.ApiClient.create(private_postgres.url)
    try:
        _seed(api)
        private_postgres.stop(mode)
        _assert_unavailable(api)
        private_postgres.start()
        _assert_recovered(api)
    finally:
        api.close()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_stopped_mariadb_answers_503_then_recovers(private_mariadb, mode):
    api = support.ApiClient.create(private_mariadb.url)
    try:
        _seed(api)
        private_mariadb.stop(mode)
        _assert_unavailable(api)
        private_mariadb.start()
        _assert_recovered(api)
    finally:
        api.close()


@pytest.mark.parametrize("server", ["private_postgres", "private_mariadb"])
def test_first_request_after_a_restart_is_answered(request, server):
    """A restart while no request runs leaves the pool holding connections
    the old server ended: the first request after it is answered, not 503
    (engine._Liveness replaces them)."""
    private = request.getfixturevalue(server)
    api = support.ApiClient.create(private.url)
    try:
        _seed(api)
        private.stop("fast")
        private.start()
        _assert_recovered(api)
    finally:
        api.close()


def test_unresponsive_database_answers_503_in_bounded_time(
    private_postgres, monkeypatch
):
    # A server that accepts TCP connections and never answers: without a
    # connect timeout every request would hang.
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", 2)
    api = support.ApiClient.create(private_postgres.url)
    try:
        _seed(api)
        private_postgres.stop()
        with socket.socket() as black_hole:
            black_hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            black_hole.bind(("127.0.0.1", private_postgres.port))
            black_hole.listen(64)
            started = time.monotonic()
            resp = api.get("/resource_providers")
            assert resp.status_code == 503, resp.text
            assert time.monotonic() - started < BOUND
            assert resp.headers["retry-after"].isdigit()
        private_postgres.start()
        _assert_recovered(api)
    finally:
        api.close()


def test_other_database_errors_stay_500(sqlite_api, monkeypatch):
    # Only "unavailable" errors become 503: a broken statement is a bug.
    import sqlalchemy as sa

    from allotment.candidates import listing

    def broken(conn, version, filters):
        conn.execute(sa.text("SELECT * FROM no_such_table"))

    monkeypatch.setattr(listing, "matching", broken)
    resp = sqlite_api.get("/resource_providers")
    assert resp.status_code == 500
    assert "retry-after" not in resp.headers
    assert "no_such_table" not in resp.text


def test_request_in_flight_when_the_database_stops_answers_503(
    private_postgres,
):
    import threading

    import sqlalchemy as sa

    api = support.ApiClient.create(private_postgres.url)
    admin = sa.create_engine(private_postgres.url)
    try:
        _seed(api)
        result = {}

        def put_inventory():
            result["answer"] = api.put(
                "/resource_providers/%s/inventories" % RP,
                {
                    "resource_provider_generation": 1,
                    "inventories": {"VCPU": {"total": 4}},
                },
            )

        locker = admin.connect()
        locker.begin()
        locker.exec_driver_sql(
            "LOCK TABLE resource_providers IN ACCESS EXCLUSIVE MODE"
        )
        client = threading.Thread(target=put_inventory)
        client.start()
        deadline = time.monotonic() + 15
        with admin.connect() as watcher:
            while not watcher.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE "
                    "wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ):
                assert time.monotonic() < deadline, "the request never blocked"
                time.sleep(0.05)
        private_postgres.stop("fast")  # ends every session, the lock's too
        client.join(BOUND)
        assert not client.is_alive()
        resp = result["answer"]
        assert resp.status_code == 503, resp.text
        assert resp.headers["retry-after"].isdigit()
        locker.invalidate()
        private_postgres.start()
        _assert_recovered(api)
    finally:
        admin.dispose()
        api.close()
