"""A real three-node Galera cluster (tests/private_galera.py): the scale-out
stress (tests/scaleout.py) with one ``allotment serve`` per node, each
writing through its own node, while nodes fail.

Phases: all three nodes; node 3 stopped (clean shutdown) then restarted
(it rejoins by incremental state transfer); node 2 cut off its peers
(``gmcast.isolate``: still running but not primary, so it answers 1047)
then let back; all three again. Throughout, the clients of the healthy
nodes carry on and never see a 5xx; the clients of a failed node get 503s
in Placement's error format with Retry-After, never another 5xx or a
wrong answer (each client checks every consumer it writes against its own
model), and succeed again once the node is back. At the end every node
has applied the same transactions, every node and every server shows the
same usages, and the invariants of the stress hold: no usage above
capacity (sampled through node 1 during the run), usage equal to the sum
of allocations and to the clients' models, generations never backwards.

Certification failures (two nodes taking a change number, or claiming on
one provider, at once) come back as deadlocks (1213) and are retried like
them; persistent ones would answer 409, never 500. Two nodes claiming a
periodic task at once (storage/periodic.py) elect one: the other's claim
fails certification and answers "not you".

Skipped only when mariadbd, galera-4 or rsync are missing (``.ci/run``
installs them; with ALLOTMENT_REQUIRE_BACKENDS=1 their absence fails).
"""

import datetime
import logging
import time

import pytest
import sqlalchemy as sa

from allotment import exceptions
from allotment.storage import changes
from allotment.storage import engine as storage_engine
from allotment.storage import periodic
from tests import private_galera
from tests import scaleout

DATABASE = "allotment_galera"
SCALE = 10 if scaleout.SOAK else 1
PHASE = 10 * SCALE  # seconds of load per phase
RECOVERY_TIMEOUT = 90
CAUSAL_READS = "init_command=SET%20SESSION%20wsrep_sync_wait%3D1"


@pytest.fixture(scope="module")
def galera():
    cluster = private_galera.GaleraCluster.start_new()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _wait_serving(server, timeout=RECOVERY_TIMEOUT):
    """Wait until ``server`` answers a database read with 200; the time."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        answer = scaleout.Http(server.port)
        try:
            last = answer.call("GET", "/resource_providers?name=none")
        finally:
            answer.close()
        if last.status == 200:
            return time.monotonic()
        time.sleep(0.3)
    raise AssertionError(
        "%s did not recover within %s s (last answer %s %s)"
        % (server.name, timeout, last.status, last.body)
    )


def _synced_database(galera, tmp_path, name):
    """Create database ``name`` on the cluster, at our head revision."""
    galera.create_database(name)
    scaleout.db_sync(
        scaleout.write_config(
            str(tmp_path / "placement.conf"),
            galera.nodes[0].database_url(name),
        )
    )


def _writes(stats, server_name, start, end):
    return sum(
        1
        for name, when in stats.ok_log
        if name == server_name and start <= when <= end
    )


def test_galera_stress_with_failing_nodes(galera, tmp_path):
    galera.create_database(DATABASE)
    configs = [
        scaleout.write_config(
            str(tmp_path / ("node%d.conf" % node.index)),
            node.database_url(DATABASE),
        )
        for node in galera.nodes
    ]
    scaleout.db_sync(configs[0])  # once, through node 1
    servers = [
        scaleout.Server(
            "server%d(node%d)" % (i + 1, node.index),
            configs[i],
            str(tmp_path / ("server%d.log" % (i + 1))),
        )
        for i, node in enumerate(galera.nodes)
    ]
    node1, node2, node3 = galera.nodes
    stress = scaleout.Stress(
        servers, node1.database_url(DATABASE), "galera", clients=9
    )
    windows = {}
    try:
        for server in servers:
            server.start()
        stress.start()
        stress.stop.wait(PHASE)

        # Node 3 stops: its server answers 503 until it is back.
        start = time.monotonic()
        before = node3.transfers()
        node3.stop()
        stress.stop.wait(PHASE)
        node3.start()  # rejoins by IST
        node3.wait_synced(size=3)
        after = node3.transfers()
        rejoin = (
            "IST"
            if after["IST"] > before["IST"]
            else (
                "SST" if after["SST"] > before["SST"] else "unknown transfer"
            )
        )
        windows["stop"] = (start, _wait_serving(servers[2]))
        stress.stop.wait(PHASE / 2)

        # Node 2 loses the primary component (1047) but keeps running.
        start = time.monotonic()
        node2.isolate()
        node2.wait_not_primary()
        stress.stop.wait(PHASE)
        node2.isolate(False)
        node2.wait_synced(size=3)
        windows["isolate"] = (start, _wait_serving(servers[1]))
        stress.stop.wait(PHASE / 2)
        stress.finish()

        last_committed = galera.wait_converged()
        per_node = {}
        for node in galera.nodes:
            database = storage_engine.Database(node.database_url(DATABASE))
            try:
                per_node[node.name] = stress.check_capacity_in_database(
                    database
                )
            finally:
                database.dispose()
        usages = stress.final_check(servers)
    except BaseException:
        print("logs kept in", scaleout.keep_logs(str(tmp_path), galera.folder))
        raise
    finally:
        stress.stop.set()
        for server in servers:
            server.stop()

    stats = stress.stats
    affected = {"stop": servers[2].name, "isolate": servers[1].name}
    # A 503 belongs to an outage when its request was answered after the
    # node went away and sent before its server answered again.
    by_window = {
        name: [
            e
            for e in stats.errors
            if e.server == affected[name]
            and e.answered >= windows[name][0]
            and e.started <= windows[name][1]
        ]
        for name in windows
    }
    line = stress.summary(
        "; node 3 stopped: %d answers 503 on its server, %d writes ok on "
        "the others, rejoined by %s; node 2 isolated: %d answers 503 on "
        "its server, %d writes ok on the others; converged at seqno %d"
        % (
            len(by_window["stop"]),
            sum(
                _writes(stats, s.name, *windows["stop"])
                for s in servers
                if s is not servers[2]
            ),
            rejoin,
            len(by_window["isolate"]),
            sum(
                _writes(stats, s.name, *windows["isolate"])
                for s in servers
                if s is not servers[1]
            ),
            last_committed,
        )
    )
    # Only the failed node's server answered 5xx, only 503, only while
    # its node was away.
    allowed = {id(e) for errors in by_window.values() for e in errors}
    unexpected = [e for e in stats.errors if id(e) not in allowed]
    if stats.violations or unexpected:
        print("logs kept in", scaleout.keep_logs(str(tmp_path), galera.folder))
    assert not stats.violations, "\n".join(stats.violations[:20])
    assert not unexpected, unexpected[:10]
    # Every node holds the same usages, and so does every server.
    first = per_node[node1.name]
    assert all(found == first for found in per_node.values()), per_node
    assert {uuid: used for uuid, used in usages.items() if used} == first
    assert all(
        e.status == 503 for errors in by_window.values() for e in errors
    )
    assert by_window["stop"] and by_window["isolate"], line
    # The other nodes' clients carried on meanwhile.
    for name, failed in (("stop", servers[2]), ("isolate", servers[1])):
        assert (
            sum(
                _writes(stats, s.name, *windows[name])
                for s in servers
                if s is not failed
            )
            > 0
        ), line
    # And the failed nodes' clients wrote again once they were back.
    for name, failed in (("stop", servers[2]), ("isolate", servers[1])):
        assert any(
            n == failed.name and when > windows[name][1]
            for n, when in stats.ok_log
        ), line


def test_certification_failure_is_retried(galera, tmp_path, monkeypatch):
    """Two nodes taking the next change number at once: the transaction
    that loses certification gets 1213 and is run again; if it lost every
    time it would answer 409 placement.concurrent_update."""
    name = "allotment_certification"
    _synced_database(galera, tmp_path, name)
    node1, node2 = (
        storage_engine.Database(node.database_url(name))
        for node in galera.nodes[:2]
    )
    monkeypatch.setattr(storage_engine.time, "sleep", lambda _s: None)
    take_number = changes.HEAD.update().values(seq=changes.HEAD.c.seq + 1)
    attempts = []

    def work(conn, collide_until):
        attempts.append(1)
        conn.execute(take_number)  # node 2 holds the head row ...
        if len(attempts) <= collide_until:
            with node1.write() as other:  # ... node 1 commits it first
                other.execute(take_number)
        return len(attempts)

    def head():
        galera.wait_converged()
        seen = set()
        for node in galera.nodes:
            database = storage_engine.Database(node.database_url(name))
            try:
                with database.read() as conn:
                    seen.add(conn.scalar(sa.select(changes.HEAD.c.seq)))
            finally:
                database.dispose()
        assert len(seen) == 1, seen
        return seen.pop()

    try:
        before = head()
        assert node2.run_write(work, 1) == 2
        assert head() == before + 2  # one number each, none lost
        attempts.clear()
        with pytest.raises(exceptions.ConcurrentUpdate) as caught:
            node2.run_write(work, 1000)
        assert len(attempts) == storage_engine._WRITE_RETRIES
        assert caught.value.status == 409
        assert caught.value.code == exceptions.CONCURRENT_UPDATE
        assert isinstance(caught.value.__cause__, sa.exc.OperationalError)
        assert caught.value.__cause__.orig.args[0] == 1213
        assert head() == before + 2 + storage_engine._WRITE_RETRIES
    finally:
        node1.dispose()
        node2.dispose()


def test_one_node_claims_a_periodic_task(
    galera, tmp_path, monkeypatch, caplog
):
    """The periodic tasks' lease (storage/periodic.py) across nodes: a
    claim through node 2 whose UPDATE has run while node 1's claim commits
    loses certification at its commit and answers "not you" (no retry, no
    error); claims through each node in turn elect the first."""
    name = "allotment_lease"
    _synced_database(galera, tmp_path, name)
    nodes = [
        storage_engine.Database(node.database_url(name))
        for node in galera.nodes
    ]
    task, hour = "test.task", 3600
    stamp = periodic.TASKS.c.last_run_at

    def due_again():
        with nodes[2].write() as conn:
            last = conn.scalar(sa.select(stamp))
            conn.execute(
                periodic.TASKS.update().values(
                    last_run_at=last - datetime.timedelta(seconds=hour)
                )
            )
        galera.wait_converged()

    def holders():
        galera.wait_converged()
        seen = set()
        for database in nodes:
            with database.read() as conn:
                seen.add(conn.scalar(sa.select(periodic.TASKS.c.holder)))
        return seen

    real = periodic._claim

    def node1_first(conn, *args):
        won = real(conn, *args)  # node 2 stamped the row ...
        monkeypatch.setattr(periodic, "_claim", real)
        assert periodic.claim(nodes[0], task, hour, "node1")  # ... committed
        return won

    try:
        assert periodic.claim(nodes[2], task, hour, "node3")
        due_again()
        monkeypatch.setattr(periodic, "_claim", node1_first)
        with caplog.at_level(logging.DEBUG, logger=periodic.LOG.name):
            assert periodic.claim(nodes[1], task, hour, "node2") is False
        assert "another worker claimed it" in caplog.text
        assert "1213" in caplog.text  # certification failure, at commit
        assert holders() == {"node1"}
        due_again()
        won = [
            periodic.claim(database, task, hour, "node%d" % n)
            for n, database in enumerate(nodes, 1)
        ]
        assert won == [True, False, False]
        assert holders() == {"node1"}
    finally:
        for database in nodes:
            database.dispose()


def test_causal_reads_through_connection_parameters(galera):
    """docs/operations.md: ``[placement_database] connection_parameters``
    can make every session wait for the cluster before reading."""
    database = storage_engine.Database(
        galera.nodes[1].url, connection_parameters=CAUSAL_READS
    )
    try:
        with database.read() as conn:
            assert (
                conn.scalar(sa.text("SELECT @@session.wsrep_sync_wait")) == 1
            )
    finally:
        database.dispose()
