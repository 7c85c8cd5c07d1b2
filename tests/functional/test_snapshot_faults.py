"""The provider snapshot after faults: each case an operator's cloud met.

Every test here is a regression test for one way the snapshot used to go
wrong (or stall its worker) and stay wrong until a restart. Two
application instances stand for two worker processes: ``writer`` changes
the database, ``reader`` answers from its own long-lived snapshot, and
after each fault the reader must answer exactly as a fresh load would.
"""

import datetime
import itertools
import os
import subprocess
import sys
import threading
import time

import falcon.testing
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from allotment.candidates import snapshot
from allotment.cli import main as cli
from allotment.storage import changes
from allotment.storage import migrations
from allotment.storage import tables
from tests import provider_writes
from tests import support
from tests.functional.test_allocation_candidates import _provider

AC = "/allocation_candidates?resources=VCPU:1"
INV = tables.inventories
RP = tables.resource_providers
EVERYTHING_PRUNED = datetime.timedelta(seconds=-1)


def _vcpus(client, query=AC):
    """{provider uuid: VCPU capacity} of every provider offered."""
    resp = client.get(query + "&limit=1000" if "limit" not in query else query)
    assert resp.status_code == 200, resp.text
    return {
        rp: s["resources"]["VCPU"]["capacity"]
        for rp, s in resp.json["provider_summaries"].items()
    }


def _set_total(client, rp, total):
    generation = client.get("/resource_providers/" + rp).json["generation"]
    resp = client.put(
        "/resource_providers/%s/inventories" % rp,
        {
            "resource_provider_generation": generation,
            "inventories": {"VCPU": {"total": total}},
        },
    )
    assert resp.status_code == 200, resp.text


def _rp_id(client, rp):
    with client.db.read() as conn:
        return conn.scalar(sa.select(RP.c.id).where(RP.c.uuid == rp))


def _lost_connection(*_args, **_kwargs):
    raise sa_exc.OperationalError(
        "SELECT ...",
        {},
        Exception("server closed the connection unexpectedly"),
    )


def _exact(client):
    support.assert_snapshot_exact(client.db)


# 1 -----------------------------------------------------------------------


def test_a_load_that_fails_leaves_nothing_behind(pair, monkeypatch):
    """A connection lost during the first load or a partial reload: the
    request answers 503, and the next one answers from a complete load
    (the cursor used to move before the load succeeded: 0 candidates, or
    the old capacity, until restart)."""
    writer, _reader = pair
    rp = _provider(writer, "cn1", inventory={"VCPU": 4})
    late = support.ApiClient.create(writer.conf.placement_database.connection)
    try:
        snap = snapshot.for_database(late.db)
        snap.current = None  # as if the load at start had not run
        monkeypatch.setattr(snapshot, "_load", _lost_connection)
        resp = late.get(AC)
        assert resp.status_code == 503, resp.text
        assert resp.headers["retry-after"]
        assert resp.json["errors"][0]["status"] == 503
        monkeypatch.undo()
        assert _vcpus(late) == {rp: 4}

        _set_total(writer, rp, 8)
        monkeypatch.setattr(snapshot, "_load", _lost_connection)
        assert late.get(AC).status_code == 503
        monkeypatch.undo()
        assert _vcpus(late) == {rp: 8}
        _exact(late)
    finally:
        late.close()


# 2 -----------------------------------------------------------------------


def test_pruning_is_noticed_after_rolled_back_writes(pair):
    """A rolled-back write (here a reshaper answering 409) left a hole in
    the numbers, and with any hole the prune check was skipped: a worker
    idle past the prune age kept stale providers."""
    writer, reader = pair
    rp = _provider(writer, "cn1", inventory={"VCPU": 4})
    assert _vcpus(reader) == {rp: 4}
    resp = writer.post(
        "/reshaper",
        {
            "inventories": {
                rp: {
                    "resource_provider_generation": 99,
                    "inventories": {"VCPU": {"total": 1}},
                }
            },
            "allocations": {},
        },
        version="1.30",
        headers={"x-roles": "admin,service"},
    )
    assert resp.status_code == 409, resp.text
    _set_total(writer, rp, 6)
    with writer.db.write() as conn:
        changes.prune(conn, keep=EVERYTHING_PRUNED)
    assert _vcpus(reader) == {rp: 6}
    _exact(reader)


# 3 -----------------------------------------------------------------------


def test_a_write_that_commits_long_after_it_began_is_seen(
    pair, backend, monkeypatch
):
    """A write paused between taking its number and committing (a slow
    commit, a paused process) was given up as rolled back after
    GAP_SECONDS and never seen. Numbers are now taken at commit."""
    if backend == "sqlite":
        pytest.skip(
            "SQLite writers take turns: one cannot commit while "
            "another is open"
        )
    # Where the old design gave a missing number up after GAP_SECONDS,
    # a long enough pause is simulated by making that time zero.
    monkeypatch.setattr(changes, "GAP_SECONDS", 0, raising=False)
    writer, reader = pair
    slow = _provider(writer, "slow", inventory={"VCPU": 4})
    fast = _provider(writer, "fast", inventory={"VCPU": 4})
    assert _vcpus(reader) == {slow: 4, fast: 4}
    slow_id = _rp_id(writer, slow)
    with writer.db.write() as conn:
        conn.execute(
            INV.update()
            .where(INV.c.resource_provider_id == slow_id)
            .values(total=16)
        )
        changes.record(conn, [slow_id])
        _set_total(writer, fast, 8)  # through another connection
        assert _vcpus(reader) == {slow: 4, fast: 8}
    assert _vcpus(reader) == {slow: 16, fast: 8}
    _exact(reader)


# 4 -----------------------------------------------------------------------


def test_a_worker_starting_during_a_write_sees_it(database_url, backend):
    """A worker whose first load ran while a write was open, followed by
    more than 200 other changes, never saw that write."""
    if backend == "sqlite":
        pytest.skip(
            "SQLite writers take turns: one cannot commit while "
            "another is open"
        )
    writer = support.ApiClient.create(database_url)
    try:
        rp = _provider(writer, "cn1", inventory={"VCPU": 4})
        rp_id = _rp_id(writer, rp)
        with writer.db.write() as conn:
            conn.execute(
                INV.update()
                .where(INV.c.resource_provider_id == rp_id)
                .values(total=32)
            )
            changes.record(conn, [rp_id])
            reader = support.ApiClient.create(database_url)
            for n in range(201):
                with writer.db.write() as other:
                    changes.record(other, [10**6 + n])
            assert _vcpus(reader) == {rp: 4}
        assert _vcpus(reader) == {rp: 32}
        _exact(reader)
        reader.close()
    finally:
        writer.close()


# 5 -----------------------------------------------------------------------


def test_a_worker_far_behind_a_pruned_log_reloads_without_a_huge_query(pair):
    """A worker that fell 70,000 changes behind a pruned log kept one hole
    per pruned number and sent them all in an IN list (past 65,535 every
    candidates request of that worker answered 500 on PostgreSQL)."""
    writer, reader = pair
    rp = _provider(writer, "cn1", inventory={"VCPU": 4})
    assert _vcpus(reader) == {rp: 4}
    behind = 70000
    now = datetime.datetime(2000, 1, 1)
    with writer.db.write() as conn:
        start = changes.head(conn)
        conn.execute(
            changes.LOG.insert(),
            [
                {"seq": start + n, "provider_id": 10**6, "created_at": now}
                for n in range(1, behind + 1)
            ],
        )
        conn.execute(changes.HEAD.update().values(seq=start + behind))
    _set_total(writer, rp, 12)
    with writer.db.write() as conn:
        changes.prune(conn)
    largest = []

    def count(_conn, _cursor, _statement, parameters, _context, many):
        if not many:
            largest.append(len(parameters or ()))

    sa.event.listen(reader.db.engine, "before_cursor_execute", count)
    try:
        assert _vcpus(reader) == {rp: 12}
    finally:
        sa.event.remove(reader.db.engine, "before_cursor_execute", count)
    assert max(largest) < 100
    _exact(reader)


# 6 -----------------------------------------------------------------------


def test_a_client_that_stops_reading_blocks_nobody(sqlite_api):
    """The answer used to stream under the snapshot's lock: one client that
    stopped reading a large answer blocked every other candidates request
    of its worker (and, once they took its threads, every request)."""
    root = _provider(sqlite_api, "root")
    for n in range(60):
        _provider(sqlite_api, "numa%d" % n, parent=root, inventory={"VCPU": 4})
    environ = falcon.testing.create_environ(
        path="/allocation_candidates",
        query_string="resources1=VCPU:1&resources2=VCPU:1&group_policy=none",
        headers={
            "x-auth-token": "admin",
            "openstack-api-version": "placement 1.39",
        },
    )
    body = sqlite_api.app(environ, lambda status, headers, exc=None: None)
    first = next(iter(body))  # the client reads one chunk, then stalls
    assert first.startswith(b'{"allocation_requests":[')
    answers = []

    def timed(path):
        started = time.monotonic()
        status = sqlite_api.get(path).status_code
        answers.append((status, time.monotonic() - started < 1.0))

    def other_requests():
        timed("/")
        timed(AC)
        _set_total(sqlite_api, root, 1)  # a write, then a refresh
        timed(AC)

    thread = threading.Thread(target=other_requests, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert answers == [(200, True)] * 3
    rest = b"".join(body)
    body.close()
    assert (first + rest).endswith(b"}}")


# 7 -----------------------------------------------------------------------


def test_a_write_made_with_sql_is_found_by_the_drift_check(pair, caplog):
    """Writes outside the service (an operator's SQL, the reference during
    a switch) were never picked up."""
    writer, reader = pair
    rp = _provider(
        writer, "cn1", inventory={"VCPU": 4}, traits=["HW_CPU_X86_AVX2"]
    )
    assert _vcpus(reader) == {rp: 4}
    rp_id = _rp_id(writer, rp)
    with writer.db.engine.begin() as conn:  # bypasses the change log
        conn.execute(
            INV.update()
            .where(INV.c.resource_provider_id == rp_id)
            .values(total=10)
        )
        conn.execute(tables.resource_provider_traits.delete())
    snap = snapshot.for_database(reader.db)
    assert _vcpus(reader) == {rp: 4}  # not visible through the log
    with caplog.at_level("WARNING"):
        differences = snap.check()
    assert sorted(d.split(":")[0] for d in differences) == [
        "inventories",
        "traits",
    ]
    assert "provider snapshot differed" in caplog.text
    assert snap.counters()["drift_repairs"] == 1
    assert _vcpus(reader) == {rp: 10}
    assert snap.check() == []
    _exact(reader)


@pytest.mark.parametrize(
    "values",
    [
        {"name": "renamed"},
        {"generation": 7},
        {"updated_at": datetime.datetime(2031, 1, 2, 3, 4, 5)},
        {"uuid": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"},
        {"root_provider_id": None},
    ],
    ids=["name", "generation", "updated_at", "uuid", "root"],
)
def test_the_drift_check_covers_what_the_provider_list_shows(pair, values):
    """Columns the provider list shows, written with SQL by hand."""
    writer, reader = pair
    rp = _provider(writer, "cn1", inventory={"VCPU": 4})
    snap = snapshot.for_database(reader.db)
    snap.version()
    with writer.db.engine.begin() as conn:  # bypasses the change log
        conn.execute(
            RP.update().where(RP.c.id == _rp_id(writer, rp)).values(**values)
        )
    assert snap.check() == ["shown: 1 rows each, with different values"]
    assert snap.check() == []
    _exact(reader)


def test_a_uuid_changed_by_hand_is_shown_by_its_tree(pair):
    """SQL by hand changed a root's uuid, then a logged write on it came
    before the drift check: its child's cached list entry (which shows the
    root's uuid) was kept."""
    writer, reader = pair
    root = _provider(writer, "root", inventory={"VCPU": 2})
    _provider(writer, "child", parent=root)

    def roots():
        resp = reader.get("/resource_providers", version="1.14")
        return {
            p["root_provider_uuid"] for p in resp.json["resource_providers"]
        }

    assert roots() == {root}  # the entries are cached now
    moved = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    with writer.db.engine.begin() as conn:  # bypasses the change log
        conn.execute(RP.update().where(RP.c.uuid == root).values(uuid=moved))
    _set_total(writer, moved, 4)  # logged: the root's row is reloaded
    assert roots() == {moved}
    _exact(reader)


def test_snapshot_reload_makes_every_worker_reload(pair, tmp_path, capsys):
    writer, reader = pair
    rp = _provider(writer, "cn1", inventory={"VCPU": 4})
    assert _vcpus(reader) == {rp: 4}
    with writer.db.engine.begin() as conn:
        conn.execute(INV.update().values(total=20))
    conf = tmp_path / "placement.conf"
    conf.write_text(
        "[placement_database]\nconnection = %s\n"
        % writer.conf.placement_database.connection
    )
    before = snapshot.for_database(reader.db).counters()["full_loads"]
    assert cli.main(["snapshot", "reload", "--config-file", str(conf)]) == 0
    assert "reload" in capsys.readouterr().out
    assert _vcpus(reader) == {rp: 20}
    assert _vcpus(writer) == {rp: 20}
    assert (
        snapshot.for_database(reader.db).counters()["full_loads"] == before + 1
    )


def test_the_drift_check_runs_in_the_background(database_url):
    client = support.ApiClient.create(
        database_url, allotment__snapshot_check_interval=1
    )
    try:
        rp = _provider(client, "cn1", inventory={"VCPU": 4})
        assert _vcpus(client) == {rp: 4}
        with client.db.engine.begin() as conn:
            conn.execute(INV.update().values(total=5))
        snap = snapshot.for_database(client.db)
        deadline = time.monotonic() + 30
        while (
            snap.counters()["drift_repairs"] == 0
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert snap.counters()["drift_repairs"] == 1
        assert _vcpus(client) == {rp: 5}
    finally:
        client.close()


# 8 -----------------------------------------------------------------------


def test_change_numbers_go_past_32_bits(pair):
    """The log's number was a 32-bit integer: after 2^31 changes every
    write failed."""
    writer, reader = pair
    rp = _provider(writer, "cn1", inventory={"VCPU": 4})
    assert _vcpus(reader) == {rp: 4}
    with writer.db.write() as conn:
        conn.execute(changes.HEAD.update().values(seq=2**31 + 5))
    _set_total(writer, rp, 7)
    assert _vcpus(reader) == {rp: 7}
    with reader.db.read() as conn:
        assert changes.head(conn) > 2**31


# 9 -----------------------------------------------------------------------


def test_stamp_to_the_reference_and_back(pair, tmp_path, capsys):
    """After ``db stamp a082b8bb98d0`` (the way back to the reference) a
    later ``db sync`` failed: the change log already existed. Coming back
    must also make every worker reload what the reference wrote."""
    writer, reader = pair
    rp = _provider(writer, "cn1", inventory={"VCPU": 4})
    assert _vcpus(reader) == {rp: 4}
    conf = tmp_path / "placement.conf"
    conf.write_text(
        "[placement_database]\nconnection = %s\n"
        % writer.conf.placement_database.connection
    )
    args = ["--config-file", str(conf)]
    assert cli.main(["db", "stamp", "a082b8bb98d0", *args]) == 0
    with writer.db.engine.begin() as conn:  # the reference writes no log
        conn.execute(INV.update().values(total=9))
    assert cli.main(["db", "sync", *args]) == 0
    assert cli.main(["db", "version", *args]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith(migrations.head_revision())
    assert _vcpus(reader) == {rp: 9}
    _set_total(writer, rp, 3)
    assert _vcpus(reader) == {rp: 3}
    _exact(reader)


# 10 ----------------------------------------------------------------------


def test_the_snapshot_loads_when_the_worker_starts(database_url):
    """The first full load was paid inside a worker's first candidates
    request, holding the lock; it now runs when the app is built."""
    writer = support.ApiClient.create(database_url)
    try:
        _provider(writer, "cn1", inventory={"VCPU": 4})
        reader = support.ApiClient.create(database_url)
        counters = snapshot.for_database(reader.db).counters()
        assert counters["loaded"] and counters["providers"] == 1
        assert counters["full_loads"] == 1
        reader.close()
    finally:
        writer.close()


def test_a_worker_that_cannot_load_at_start_answers_503_then_loads(
    database_url, monkeypatch
):
    writer = support.ApiClient.create(database_url)
    monkeypatch.setattr(snapshot, "RETRY_SECONDS", 0.05)
    attempts = []
    real_load = snapshot._load

    def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) <= 20:
            _lost_connection()
        return real_load(*args, **kwargs)

    try:
        rp = _provider(writer, "cn1", inventory={"VCPU": 4})
        monkeypatch.setattr(snapshot, "_load", flaky)
        reader = support.ApiClient.create(database_url)
        deadline = time.monotonic() + 30
        answers = set()
        listed = set()  # the provider list is answered from it too
        while time.monotonic() < deadline:
            resp = reader.get("/resource_providers")
            listed.add(resp.status_code)
            assert resp.status_code in (200, 503), resp.text
            resp = reader.get(AC)
            answers.add(resp.status_code)
            if resp.status_code == 200:
                break
            assert resp.status_code == 503, resp.text
            assert resp.headers["retry-after"]
            time.sleep(0.01)
        assert answers == {503, 200}
        assert 503 in listed
        assert _vcpus(reader) == {rp: 4}
        resp = reader.get("/resource_providers")
        assert [p["uuid"] for p in resp.json["resource_providers"]] == [rp]
        assert reader.get("/").status_code == 200
        reader.close()
    finally:
        writer.close()


# Galera ------------------------------------------------------------------


def test_galera_auto_increment_steps_do_not_matter(database_url, backend):
    """On Galera every node steps auto-increment values by the cluster
    size; the log's own key may jump, its change numbers never do."""
    if backend != "mysql":
        pytest.skip("auto_increment_increment is a MySQL setting")
    writer = support.ApiClient.create(database_url)
    node = provider_writes.galera_like_database(database_url, backend)
    reader = support.ApiClient(writer.conf, node)
    try:
        rp = _provider(writer, "cn1", inventory={"VCPU": 4})
        for total in (5, 6, 7):
            _set_total(reader, rp, total)
            assert _vcpus(writer) == {rp: total}
            assert _vcpus(reader) == {rp: total}
        with node.read() as conn:
            ids = list(
                conn.scalars(
                    sa.select(changes.LOG.c.id).order_by(changes.LOG.c.id)
                )
            )
        assert any(b - a == 3 for a, b in itertools.pairwise(ids))
        _exact(writer)
        _exact(reader)
    finally:
        reader.close()
        writer.close()


def test_a_forked_wsgi_worker_loads_before_its_first_request(tmp_path):
    """uwsgi imports the WSGI module, then forks its workers: each child
    builds the application (and loads the snapshot) right after the fork,
    not inside its first request."""
    (tmp_path / "placement.conf").write_text(
        "[api]\nauth_strategy = noauth2\n[placement_database]\n"
        "connection = sqlite:///%s\nsync_on_startup = True\n"
        % (tmp_path / "placement.sqlite")
    )
    probe = (
        "import os, sys, time\n"
        "from allotment import wsgi\n"
        "from allotment.candidates import snapshot\n"
        "assert wsgi.application._app is None\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    deadline = time.monotonic() + 30\n"
        "    while wsgi.application._app is None and "
        "time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    snaps = list(snapshot._SNAPSHOTS.values())\n"
        "    os._exit(0 if snaps and snaps[0].counters()['loaded'] else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        timeout=60,
        capture_output=True,
        env={**os.environ, "OS_PLACEMENT_CONFIG_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr.decode()
