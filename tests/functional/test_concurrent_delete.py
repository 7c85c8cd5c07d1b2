"""DELETE /allocations/{consumer} while another transaction moves that
consumer's allocations (a claim moved by POST /allocations or /reshaper).

Under READ COMMITTED, a DELETE that waits for the rows the mover deleted
skips them once the mover commits, and on PostgreSQL it does not see the
rows the mover inserted: it answered 404 "No allocations" while the
consumer still held the moved allocations, which then leaked (found by
tests/functional/test_scaleout_stress.py). The DELETE now waits for the
consumer's row first. Deterministic: the mover's transaction is held open
until the database reports the DELETE waiting on a lock.
"""

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from allotment.domain import allocations
from tests import support

PROJECT = "d0d0d0d0-0000-4000-8000-000000000001"
USER = "d0d0d0d0-0000-4000-8000-000000000002"
WAIT = 60  # seconds, at most, for the DELETE to be seen waiting


def _waiting_on_lock(conn, backend):
    if backend == "postgresql":
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
            "current_database() AND wait_event_type = 'Lock'"
        )
    else:
        # MariaDB reads a row by unique key while optimizing the statement
        # (state "Statistics"), and a lock wait there does not always show
        # in innodb_trx: a locking read still running on another connection
        # is waiting, since the mover holds the row.
        query = (
            "SELECT count(*) FROM information_schema.processlist "
            "WHERE db = DATABASE() AND id <> CONNECTION_ID() "
            "AND command = 'Query' AND info LIKE '%%FOR UPDATE%%'"
        )
    return conn.exec_driver_sql(query).scalar() > 0


def test_delete_while_the_consumer_moves(backend, database_url):
    if backend == "sqlite":
        pytest.skip("SQLite writers queue for the whole transaction")
    api = support.ApiClient.create(database_url)
    watcher = sa.create_engine(
        database_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        providers = []
        for name in ("source", "target"):
            rp = str(uuid.uuid4())
            assert (
                api.post(
                    "/resource_providers", {"name": name, "uuid": rp}
                ).status_code
                == 200
            )
            assert (
                api.put(
                    "/resource_providers/%s/inventories" % rp,
                    {
                        "resource_provider_generation": 0,
                        "inventories": {"VCPU": {"total": 8}},
                    },
                ).status_code
                == 200
            )
            providers.append(rp)
        source, target = providers
        consumer = str(uuid.uuid4())
        assert (
            api.put(
                "/allocations/%s" % consumer,
                {
                    "allocations": {source: {"resources": {"VCPU": 2}}},
                    "project_id": PROJECT,
                    "user_id": USER,
                    "consumer_generation": None,
                    "consumer_type": "INSTANCE",
                },
                version="1.39",
            ).status_code
            == 204
        )
        generation = api.get(
            "/allocations/%s" % consumer, version="1.39"
        ).json["consumer_generation"]

        answers = []
        deleter = threading.Thread(
            target=lambda: answers.append(
                api.delete("/allocations/%s" % consumer)
            )
        )
        with api.db.write() as conn:
            # The mover: the consumer's allocation goes to the target.
            allocations.write(
                conn,
                [
                    allocations.Request(
                        consumer,
                        PROJECT,
                        USER,
                        {target: {"VCPU": 2}},
                        generation,
                    )
                ],
            )
            deleter.start()
            deadline = time.monotonic() + WAIT
            with watcher.connect() as watch:
                while not _waiting_on_lock(watch, backend):
                    assert time.monotonic() < deadline, (
                        "the DELETE never waited for the mover"
                    )
                    assert deleter.is_alive(), answers[0].text
                    time.sleep(0.05)
        deleter.join(WAIT)
        assert not deleter.is_alive()

        assert answers[0].status_code == 204, answers[0].text
        assert api.get("/allocations/%s" % consumer).json == {
            "allocations": {}
        }
        for rp in providers:
            assert api.get("/resource_providers/%s/usages" % rp).json[
                "usages"
            ] == {"VCPU": 0}
    finally:
        watcher.dispose()
        api.close()
