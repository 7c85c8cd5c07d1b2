"""One worker of the whole deployment runs a periodic task per interval
(storage/periodic.py), on every backend: workers asking one after the
other and all at once, the interval passing, a clock set back, the
database away or not yet synced, and the usage totals check that the
maintenance rounds of two workers share.

Two ``Database`` objects stand for two worker processes (each its own
connection pool). Time passes by moving the task's stamp back with SQL,
never by sleeping: "not yet due" is asked with an hour-long interval,
"due" by moving the stamp back a whole interval.
"""

import datetime
import logging
import threading

import pytest
import sqlalchemy as sa

from allotment.candidates import snapshot
from allotment.storage import clock
from allotment.storage import engine
from allotment.storage import periodic
from allotment.storage import tables
from allotment.storage import usage_totals
from tests import support
from tests.functional.test_usages import allocate
from tests.functional.test_usages import make_provider
from tests.scaleout import free_port

TASKS = tables.periodic_tasks
HOUR = 3600
TASK = "test.task"


@pytest.fixture
def workers(database_url):
    """Four worker processes' connection pools on one synced database."""
    support.ApiClient.create(database_url).close()  # the schema
    pools = [engine.Database(database_url) for _ in range(4)]
    yield pools
    for pool in pools:
        pool.dispose()


def _row(db, name=TASK):
    with db.read() as conn:
        return conn.execute(
            sa.select(TASKS.c.last_run_at, TASKS.c.holder).where(
                TASKS.c.name == name
            )
        ).one()


def _move_back(db, seconds, name=TASK):
    """As if the task's last run began ``seconds`` earlier."""
    last, _holder = _row(db, name)
    with db.write() as conn:
        conn.execute(
            TASKS.update()
            .where(TASKS.c.name == name)
            .values(last_run_at=last - datetime.timedelta(seconds=seconds))
        )


def _all_at_once(pools, interval):
    """Every pool claims at the same moment, from its own thread; the
    names of those that won."""
    start = threading.Barrier(len(pools))
    won = []

    def worker(n, db):
        start.wait()
        if periodic.claim(db, TASK, interval, "w%d" % n):
            won.append("w%d" % n)

    threads = [
        threading.Thread(target=worker, args=(n, db))
        for n, db in enumerate(pools)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_one_worker_per_interval(workers):
    a, b = workers[:2]
    # never ran: the first to ask inserts the row and runs it
    assert periodic.claim(a, TASK, HOUR, "a") is True
    assert periodic.claim(b, TASK, HOUR, "b") is False
    assert periodic.claim(a, TASK, HOUR, "a") is False  # the winner too
    assert _row(a).holder == "a"
    # one interval later: due once more, for one of them
    _move_back(a, HOUR)
    assert periodic.claim(b, TASK, HOUR, "b") is True
    assert periodic.claim(a, TASK, HOUR, "a") is False
    assert periodic.claim(b, TASK, HOUR, "b") is False
    assert _row(a).holder == "b"
    # a shorter interval is its own: an hour ago is due for 30 minutes
    _move_back(a, HOUR)
    assert periodic.claim(a, TASK, HOUR // 2, "a") is True
    assert periodic.claim(b, TASK, HOUR // 2, "b") is False


def test_the_stamp_is_the_database_clock(workers):
    """The stamp is the database's time, in whole seconds, and the holder
    names the host and process."""
    db = workers[0]
    with db.read() as conn:
        before = conn.execute(sa.select(clock.database_utcnow())).scalar_one()
    assert periodic.claim(db, TASK, HOUR) is True
    with db.read() as conn:
        after = conn.execute(sa.select(clock.database_utcnow())).scalar_one()
    stamp, holder = _row(db)
    assert stamp.microsecond == 0
    assert before.replace(microsecond=0) <= stamp <= after
    assert holder == periodic.holder()


def test_workers_asking_at_once_elect_one(workers):
    """Four workers ask at the same moment, round after round (the first
    round inserts the row, the others update it): one wins each."""
    for _round in range(4):
        won = _all_at_once(workers, HOUR)
        assert len(won) == 1, won
        assert _row(workers[0]).holder == won[0]
        assert _all_at_once(workers, HOUR) == []
        _move_back(workers[0], HOUR)


def test_a_clock_set_back_holds_the_task_off_one_interval_at_most(workers):
    """A stamp far ahead of the database's clock (the clock was set back
    after the last run) counts as due rather than silencing the task
    until the clock catches up; a stamp up to an interval ahead does
    not."""
    a, b = workers[:2]
    assert periodic.claim(a, TASK, HOUR, "a") is True
    _move_back(a, -HOUR)  # an interval ahead: not yet
    assert periodic.claim(b, TASK, HOUR, "b") is False
    _move_back(a, -HOUR)  # more than an interval ahead: due
    assert periodic.claim(b, TASK, HOUR, "b") is True
    assert periodic.claim(a, TASK, HOUR, "a") is False


def _unreachable(backend, tmp_path):
    if backend == "sqlite":
        return "sqlite:///%s" % tmp_path  # a folder: cannot be opened
    port = free_port()
    if backend == "mysql":
        return "mysql+pymysql://root@127.0.0.1:%d/placement" % port
    return "postgresql+psycopg://postgres@127.0.0.1:%d/placement" % port


def _assert_skipped(url, caplog):
    db = engine.Database(url)
    try:
        with caplog.at_level(logging.WARNING, logger=periodic.LOG.name):
            assert periodic.claim(db, TASK, HOUR) is False
    finally:
        db.dispose()
    assert "%s skipped this time" % TASK in caplog.text


def test_the_database_away_means_skip(backend, tmp_path, caplog):
    _assert_skipped(_unreachable(backend, tmp_path), caplog)


def test_a_schema_without_the_table_means_skip(database_url, caplog):
    """New code on a database ``db sync`` has not brought to this
    revision yet: no task runs, nothing raises."""
    _assert_skipped(database_url, caplog)


def _break_totals(client, consumer, used):
    with client.db.engine.begin() as conn:  # SQL by hand
        conn.execute(
            tables.allocations.update()
            .where(tables.allocations.c.consumer_id == consumer)
            .values(used=used)
        )


def _recounts(caplog):
    return [
        r
        for r in caplog.records
        if r.getMessage().startswith("usage totals differed")
    ]


def test_two_workers_one_usage_totals_check_per_interval(
    pair, caplog, monkeypatch
):
    """Both workers' maintenance rounds check their own snapshot; one of
    them checks the usage totals, repairing SQL written by hand. Within
    the interval neither checks them again; once it has passed, one
    does."""
    writer, reader = pair
    rounds = [snapshot.for_database(c.db) for c in pair]
    assert {snap.check_interval for snap in rounds} == {300}
    checks = {"totals": 0, "snapshot": 0}

    def counted(name, check):
        def run(*args):
            checks[name] += 1
            return check(*args)

        return run

    monkeypatch.setattr(
        usage_totals, "check", counted("totals", usage_totals.check)
    )
    monkeypatch.setattr(
        snapshot.Snapshot,
        "check",
        counted("snapshot", snapshot.Snapshot.check),
    )
    rp = make_provider(writer, {"VCPU": 64}, name="rp1")
    consumer = allocate(writer, rp, {"VCPU": 2})
    _break_totals(writer, consumer, 7)
    with caplog.at_level(logging.WARNING):
        for snap in rounds:
            snap.periodic_checks()
    assert checks == {"totals": 1, "snapshot": 2}
    assert len(_recounts(caplog)) == 1
    assert reader.get("/usages?project_id=p1", version="1.9").json == {
        "usages": {"VCPU": 7}
    }
    support.assert_usage_totals_exact(writer.db)
    assert _row(writer.db, usage_totals.CHECK_TASK).holder == (
        periodic.holder()
    )
    # broken again within the interval: nobody looks
    _break_totals(writer, consumer, 9)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        for snap in rounds:
            snap.periodic_checks()
    assert checks == {"totals": 1, "snapshot": 4}
    assert _recounts(caplog) == []
    with writer.db.read(consistent=True) as conn:
        assert usage_totals.differences(conn)
    # the interval passed: one of them repairs it
    _move_back(writer.db, 300, usage_totals.CHECK_TASK)
    with caplog.at_level(logging.WARNING):
        for snap in reversed(rounds):
            snap.periodic_checks()
    assert checks == {"totals": 2, "snapshot": 6}
    assert len(_recounts(caplog)) == 1
    support.assert_usage_totals_exact(writer.db)
    assert reader.get("/usages?project_id=p1", version="1.9").json == {
        "usages": {"VCPU": 9}
    }
