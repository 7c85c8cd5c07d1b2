"""Periodic tasks that one worker of the whole deployment runs per interval.

Every API worker of every host runs the same maintenance loop. Work that
is about the shared database alone (the usage totals check,
``usage_totals.check``) needs doing once per interval, not once per worker.
``allotment_periodic_tasks`` holds a row per such task: when it last ran
and which worker ran it (``holder``: host and process id, for people).

``claim`` is a lease without a lock: in one short transaction it reads the
database's clock (``clock.database_utcnow``: every host reads the same
clock, so their own clocks do not matter) and runs one conditional UPDATE,
``SET last_run_at = now, holder = me WHERE name = :name AND (last_run_at
IS NULL OR last_run_at <= now - interval OR last_run_at > now +
interval)``. The worker whose UPDATE changed the row runs the task; every
other worker in that interval finds the row stamped and skips it. The
database decides between workers that ask at once: SQLite queues writers,
PostgreSQL and MySQL re-check the condition on the row once the first
writer committed, and on Galera two nodes stamping the row at once is a
certification conflict whose loser is told so at commit. A stamp more than
an interval ahead of the clock (the clock was set back) counts as due, so
that the task is never held off longer than that. A task runs its first
time when its row is missing: the first worker to insert the row runs it.

Stamps are whole seconds. Each worker asks once per round of its loop (an
interval of sleep, then its checks), so two runs are at least an interval
apart and, while the last runner stays up, at most an interval plus the
time its checks take. A claim never raises for a database error: the
database away, a lost race or a missing table answer "not you" (logged),
and the worker asks again after its next interval.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from allotment.storage import clock
from allotment.storage import engine
from allotment.storage import tables

if TYPE_CHECKING:
    from allotment.storage.engine import Database

LOG = logging.getLogger(__name__)

TASKS = tables.periodic_tasks


def holder() -> str:
    """Who runs a task, for people reading the table: host and process
    id (read on each call: WSGI servers fork their workers)."""
    return "%s:%d" % (socket.gethostname(), os.getpid())


def claim(
    db: Database, name: str, interval: float, me: str | None = None
) -> bool:
    """True when the caller is to run task ``name`` now: it never ran, or
    its last run began ``interval`` seconds ago or more by the database's
    clock, and this call stamped it as the caller's (``me``, by default
    ``holder()``). False when another worker ran it within the interval
    or won the race, or when the database cannot be asked now (logged).
    Never raises for a database error."""
    try:
        with db.write() as conn:
            return _claim(
                conn,
                name,
                datetime.timedelta(seconds=interval),
                me or holder(),
            )
    except (
        sa_exc.DBAPIError,
        sa_exc.DisconnectionError,
        sa_exc.TimeoutError,
    ) as error:
        if engine.is_retryable(error):
            LOG.debug("%s: another worker claimed it (%s)", name, error)
        else:
            LOG.warning(
                "%s skipped this time: the database could not be asked "
                "who runs it (%s)",
                name,
                getattr(error, "orig", None) or error,
            )
        return False


def _claim(
    conn: sa.Connection, name: str, interval: datetime.timedelta, me: str
) -> bool:
    now = (
        conn.execute(sa.select(clock.database_utcnow()))
        .scalar_one()
        .replace(microsecond=0)
    )
    last = TASKS.c.last_run_at
    stamped = conn.execute(
        TASKS.update()
        .where(
            TASKS.c.name == name,
            sa.or_(
                last.is_(None),
                last <= now - interval,
                last > now + interval,
            ),
        )
        .values(last_run_at=now, holder=me)
    )
    if stamped.rowcount == 1:
        return True
    return _insert_if_absent(conn, name, now, me)


def _insert_if_absent(
    conn: sa.Connection, name: str, now: datetime.datetime, me: str
) -> bool:
    """Insert the task's row stamped as ours, unless it exists (the
    database's own "do nothing on a duplicate key"); True if inserted."""
    row = {"name": name, "last_run_at": now, "holder": me}
    if conn.dialect.name in ("mysql", "mariadb"):
        stmt = mysql.insert(TASKS).values(row).prefix_with("IGNORE")
    else:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(TASKS).values(row).on_conflict_do_nothing()
    # rowcount of an INSERT: only when asked for (SQLAlchemy 2)
    stmt = stmt.execution_options(preserve_rowcount=True)
    return conn.execute(stmt).rowcount == 1
