"""``allotment serve`` under SIGTERM: stops accepting connections, lets the
request in flight finish (and commit), then exits 0.

The request in flight is made slow deterministically: the test holds a lock
on the providers table of a private PostgreSQL server, sees in
pg_stat_activity that the server's query waits for it, sends SIGTERM, and
releases the lock only after longer than the 5 s graceful timeout the
server used to allow (``--graceful-timeout``, now 30 s by default).
"""

import signal
import threading
import time

import pytest
import sqlalchemy as sa

from tests.served import Served
from tests.served import write_conf

RP = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
HELD_AFTER_SIGTERM = 6  # seconds: longer than the 5 s the server allowed


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


@pytest.mark.parametrize("threads", [1, 2], ids=["sync", "gthread"])
def test_sigterm_lets_the_request_in_flight_finish(
    private_postgres, tmp_path, threads
):
    served = Served.start(
        write_conf(tmp_path, private_postgres.url), "--threads", str(threads)
    )
    admin = sa.create_engine(private_postgres.url)
    try:
        assert (
            served.request(
                "POST", "/resource_providers", {"name": "cn1", "uuid": RP}
            )[0]
            == 200
        )
        result = {}

        def put_inventory():
            result["answer"] = served.request(
                "PUT",
                "/resource_providers/%s/inventories" % RP,
                {
                    "resource_provider_generation": 0,
                    "inventories": {"VCPU": {"total": 8}},
                },
            )

        with admin.connect() as locker, admin.connect() as watcher:
            locker.begin()
            locker.exec_driver_sql(
                "LOCK TABLE resource_providers IN ACCESS EXCLUSIVE MODE"
            )
            client = threading.Thread(target=put_inventory)
            client.start()

            def request_waits_on_the_lock():
                return (
                    watcher.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE wait_event_type = 'Lock' AND pid <> "
                            "pg_backend_pid()"
                        )
                    )
                    > 0
                )

            _wait_for(request_waits_on_the_lock, 15, "the request to block")
            served.signal(signal.SIGTERM)
            # Ample time for the signal to reach the workers, and longer
            # than the graceful timeout the server used to allow.
            time.sleep(HELD_AFTER_SIGTERM)
            assert served.proc.poll() is None, served.log()
            locker.rollback()  # releases the lock: the request goes on
        client.join(30)
        assert not client.is_alive()
        status, body = result["answer"]
        assert status == 200, (body, served.log())
        assert body["resource_provider_generation"] == 1
        assert served.proc.wait(timeout=30) == 0, served.log()
        assert not served.accepting()
        with admin.connect() as conn:
            assert conn.scalar(sa.text("SELECT total FROM inventories")) == 8
    finally:
        admin.dispose()
        served.stop()
