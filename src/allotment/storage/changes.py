"""The provider change log: which providers changed since a reader looked.

Every write that changes what the provider snapshot holds of a provider
(its existence, name, generation, time stamps, place in a tree, inventory,
usage, traits or aggregates) calls ``record`` with the provider ids while
it works, or
``record_everything`` when it changes too much to list (imports, an
operator's ``allotment snapshot reload``). Nothing is written then:
``Database.write`` calls ``publish`` as the last statements of the
transaction, which takes the next change number from the one-row
``allotment_change_head`` (``UPDATE ... SET seq = seq + 1``) and logs the
ids under it.

A write that changed only the allocations against a provider (a claim, a
move, a deletion: its usage, and with it its generation and time stamps)
records it with ``usage_only``; the entry says so (``usage_only`` true) and
a reader reloads only the provider's row and usage, keeping its
inventories, traits and aggregates. Anything else the same transaction
records of that provider makes the entry a plain one (reload it all), as
does an entry written without the column (NULL: by a release before it).

Why a counter and not an auto-increment: the head row stays locked from
that update until the transaction ends, so change numbers are handed out
and committed in the same order, and a rolled-back write gives its number
back. A reader that sees number N therefore sees every number below it,
and any number it cannot find was pruned. There is no hole to wait for,
no time after which one is assumed lost, and Galera's
auto_increment_increment does not matter (the log's own key is not read).
On Galera, two nodes taking a number at once is a certification conflict,
retried like a deadlock.

A reader remembers the last number it applied and calls ``since`` with
it: the current head and the providers changed after it, or EVERYTHING
when it must reload all (first load, an "everything" entry, entries pruned
past it, or a head below it after the log was re-created).
"""

import datetime
import random
from collections.abc import Iterable

import sqlalchemy as sa

from allotment.storage import tables
from allotment.storage.clock import utcnow

LOG = tables.provider_changes
HEAD = tables.change_head

KEEP = datetime.timedelta(hours=1)
PRUNE_EVERY = 500  # one change in this many prunes old entries (on average)

EVERYTHING = None

_PENDING = "allotment.changed_providers"
# Built once: every snapshot refresh (each candidates and provider list
# request) reads it, and building it costs as much as running it.
_HEAD = sa.select(HEAD.c.seq)


def _note(
    changed: dict[int, bool] | dict[int | None, bool],
    rp_id: int,
    usage_only: bool,
) -> None:
    """Add to ``changed`` that ``rp_id`` changed: only its usage while
    every change noted of it says so."""
    changed[rp_id] = usage_only and changed.get(rp_id, True)


def record(
    conn: sa.Connection,
    provider_ids: Iterable[int | None],
    usage_only: bool = False,
) -> None:
    """Note that the providers ``provider_ids`` changed (logged when the
    transaction of ``conn`` publishes); ``usage_only``: only the
    allocations against them did (see above)."""
    pending: dict[int | None, bool] = conn.info.setdefault(_PENDING, {})
    for i in provider_ids:
        if i is not None:
            _note(pending, int(i), usage_only)


def record_everything(conn: sa.Connection) -> None:
    """Note that any provider may have changed."""
    conn.info.setdefault(_PENDING, {})[EVERYTHING] = False


def discard(conn: sa.Connection) -> None:
    """Forget what ``conn``'s transaction recorded (it rolled back)."""
    conn.info.pop(_PENDING, None)


# Built once: every write runs them. MySQL and MariaDB have no UPDATE ...
# RETURNING: the number comes back as the session's LAST_INSERT_ID, which
# the server sends with the UPDATE's answer (reading the head back was a
# round trip of its own).
_NEXT_RETURNING = (
    HEAD.update().values(seq=HEAD.c.seq + 1).returning(HEAD.c.seq)
)
_NEXT_AS_LAST_ID = HEAD.update().values(
    seq=sa.func.last_insert_id(HEAD.c.seq + 1)
)
_LOG = LOG.insert()


def publish(conn: sa.Connection) -> int | None:
    """Log what the transaction of ``conn`` recorded under the next change
    number; the caller commits right after. Answers the number (None when
    nothing was recorded)."""
    pending = conn.info.pop(_PENDING, None)
    if not pending:
        return None
    if conn.dialect.update_returning:  # SQLite, PostgreSQL
        seq = conn.scalar(_NEXT_RETURNING)
    else:  # MySQL, MariaDB
        seq = conn.execute(_NEXT_AS_LAST_ID).lastrowid
    now = utcnow()
    if EVERYTHING in pending:
        pending = {EVERYTHING: False}
    conn.execute(
        _LOG,
        [
            {
                "seq": seq,
                "provider_id": i,
                "created_at": now,
                "usage_only": pending[i] or None,
            }
            for i in sorted(pending)  # (EVERYTHING only alone)
        ],
    )
    if random.randrange(PRUNE_EVERY) == 0:
        prune(conn)
    return seq


def prune(conn: sa.Connection, keep: datetime.timedelta = KEEP) -> None:
    """Drop entries older than ``keep`` (readers that far behind reload)."""
    conn.execute(LOG.delete().where(LOG.c.created_at < utcnow() - keep))


def head(conn: sa.Connection) -> int:
    """The last change number handed out (and committed, as seen by
    ``conn``)."""
    return conn.scalar(_HEAD) or 0


# The entries after number ``last`` up to ``now`` (built once: a
# refresh after each claim runs it). Both bounds are parameters, so that
# PostgreSQL's generic plan for it is a range scan of the seq index
# (outer-joined to the head row instead, it came to scan the log from its
# start once the log had grown: claims fell by a third).
_AFTER = sa.select(LOG.c.seq, LOG.c.provider_id, LOG.c.usage_only).where(
    LOG.c.seq > sa.bindparam("last"), LOG.c.seq <= sa.bindparam("now")
)


def since(
    conn: sa.Connection, last: int | None
) -> tuple[int, dict[int, bool] | None]:
    """``(head, changed)``: the current head, and the providers changed
    after change number ``last``, each id mapped to whether only its usage
    changed (every entry about it since says ``usage_only``); or
    EVERYTHING when the reader must reload all (``last`` None, an entry for
    everything, entries pruned past ``last``, or a head below
    ``last``)."""
    now = head(conn)
    if last is None or now < last:
        return now, EVERYTHING
    if now == last:
        return now, {}
    rows = conn.execute(_AFTER, {"last": last, "now": now}).all()
    changed: dict[int, bool] = {}
    numbers = set()
    for seq, rp_id, usage_only in rows:
        if rp_id is None:
            return now, EVERYTHING
        numbers.add(seq)
        _note(changed, rp_id, bool(usage_only))
    if len(numbers) != now - last:
        return now, EVERYTHING  # pruned past ``last``
    return now, changed
