"""Usage totals per project, user and consumer type, kept with the
allocations.

``allotment_usage_totals`` holds, per (project, user, consumer type, resource
class), the sum of ``used`` and the number of allocation rows of the
consumers of that owner; ``allotment_consumer_totals`` the number of those
consumers holding at least one allocation. Consumer type 0 stands for
consumers without a type. Only consumers with a ``consumers`` row count, as
in the join GET /usages answered from before.

Every write that changes allocations or moves a consumer to another owner
gathers a ``Delta`` (the rows it deleted, under the owner they had, and the
rows it wrote, under the owner they have now) and ``apply``s it in the same
transaction, so the totals commit or roll back with the allocations and
every worker and host reads them exact. The rows a write deletes are the
ones the database says it deleted; the owner they had is the one read with
the consumer's generation, which the write then compare-and-sets (or, for
DELETE, read under the consumer's row lock), so a concurrent change of the
consumer rolls the write back rather than the totals drifting. ``apply``
adds the deltas (``used = used + delta``) in key order, after the
write's other statements, just before the change log takes its number.

``rebuild`` recomputes both tables from the allocations: the migration that
creates them runs it, and so does every ``db sync`` that comes back after
the database was handed to the reference, and the import from nova.
Writes that bypass allotment (SQL by hand, the reference service) are
found by ``check``, which one API worker of the whole deployment runs per
drift-check interval (the maintenance threads claim ``CHECK_TASK``:
``storage/periodic.py``), and by ``allotment snapshot reload``.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from allotment.storage import tables

if TYPE_CHECKING:
    from allotment.storage.engine import Database

LOG = logging.getLogger(__name__)

USAGE = tables.usage_totals
CONSUMERS = tables.consumer_totals
ALLOC = tables.allocations
CONS = tables.consumers

# The name ``check`` is claimed under (storage/periodic.py).
CHECK_TASK = "usage_totals.check"

# (project id, user id, consumer type id or 0)
Owner = tuple[int, int, int]


def owner_of(project_id: int, user_id: int, type_id: int | None) -> Owner:
    return (project_id, user_id, type_id or 0)


class Delta:
    """What one write changes in the totals."""

    def __init__(self) -> None:
        self.used: collections.Counter = collections.Counter()
        self.rows: collections.Counter = collections.Counter()
        self.consumers: collections.Counter = collections.Counter()

    def remove(
        self, owner: Owner, allocations: Iterable[tuple[int, int]]
    ) -> None:
        """A consumer of ``owner`` lost ``allocations`` ((class id, used)
        pairs: all it had)."""
        self._count(owner, allocations, -1)

    def add(
        self, owner: Owner, allocations: Iterable[tuple[int, int]]
    ) -> None:
        """A consumer of ``owner`` now holds ``allocations`` (all of
        them)."""
        self._count(owner, allocations, 1)

    def _count(
        self, owner: Owner, allocations: Iterable[tuple[int, int]], sign: int
    ) -> None:
        allocations = list(allocations)
        if not allocations:
            return
        self.consumers[owner] += sign
        for rc_id, used in allocations:
            self.used[(*owner, rc_id)] += sign * used
            self.rows[(*owner, rc_id)] += sign

    def apply(self, conn: sa.Connection) -> None:
        """Add the deltas to the tables (creating missing rows), in key
        order so that concurrent writers lock rows in the same order."""
        usage = [
            {
                "project_id": key[0],
                "user_id": key[1],
                "consumer_type_id": key[2],
                "resource_class_id": key[3],
                "used": self.used[key],
                "allocations": self.rows[key],
            }
            for key in sorted(self.rows)
            if self.rows[key] or self.used[key]
        ]
        consumers = [
            {
                "project_id": key[0],
                "user_id": key[1],
                "consumer_type_id": key[2],
                "consumers": count,
            }
            for key, count in sorted(self.consumers.items())
            if count
        ]
        if usage:
            _add(conn, USAGE, ("used", "allocations"), usage)
        if consumers:
            _add(conn, CONSUMERS, ("consumers",), consumers)


def _add(
    conn: sa.Connection,
    table: sa.Table,
    counted: tuple[str, ...],
    rows: list[dict[str, int]],
) -> None:
    """INSERT the rows, or add their ``counted`` columns to the existing
    row with the same key (the database's own upsert)."""
    conn.execute(_upsert(conn.dialect.name, table, counted), rows)


@functools.cache
def _upsert(
    dialect: str, table: sa.Table, counted: tuple[str, ...]
) -> sa.Insert:
    """The upsert of ``_add`` in ``dialect``'s own syntax, built once."""
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        return stmt.on_duplicate_key_update(
            {name: table.c[name] + stmt.inserted[name] for name in counted}
        )
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key],
        set_={name: table.c[name] + stmt.excluded[name] for name in counted},
    )


def _recounts() -> tuple[sa.Select, sa.Select]:
    """What both tables should hold, counted from the allocations and
    consumers (the columns in the tables' order)."""
    joined = ALLOC.join(CONS, CONS.c.uuid == ALLOC.c.consumer_id)
    type_id = sa.func.coalesce(CONS.c.consumer_type_id, 0)
    usage = (
        sa.select(
            CONS.c.project_id,
            CONS.c.user_id,
            type_id,
            ALLOC.c.resource_class_id,
            sa.func.sum(ALLOC.c.used),
            sa.func.count(),
        )
        .select_from(joined)
        .group_by(
            CONS.c.project_id,
            CONS.c.user_id,
            type_id,
            ALLOC.c.resource_class_id,
        )
    )
    consumers = (
        sa.select(
            CONS.c.project_id,
            CONS.c.user_id,
            type_id,
            sa.func.count(sa.distinct(ALLOC.c.consumer_id)),
        )
        .select_from(joined)
        .group_by(CONS.c.project_id, CONS.c.user_id, type_id)
    )
    return usage, consumers


def rebuild(conn: sa.Connection) -> None:
    """Recompute both tables from the allocations and consumers."""
    usage, consumers = _recounts()
    conn.execute(USAGE.delete())
    conn.execute(CONSUMERS.delete())
    conn.execute(USAGE.insert().from_select([c.name for c in USAGE.c], usage))
    conn.execute(
        CONSUMERS.insert().from_select(
            [c.name for c in CONSUMERS.c], consumers
        )
    )


def differences(conn: sa.Connection) -> list[str]:
    """The tables whose rows differ from a recount, read in the caller's
    transaction (consistent, to compare like with like). Rows the deltas
    brought back to zero count as absent."""
    found = []
    for table, recount in zip((USAGE, CONSUMERS), _recounts(), strict=True):
        stored = {
            tuple(int(v) for v in row)
            for row in conn.execute(sa.select(*table.c))
            if any(row[4:] if table is USAGE else row[3:])
        }
        counted = {tuple(int(v) for v in row) for row in conn.execute(recount)}
        if stored != counted:
            found.append(
                "%s: %d rows differ" % (table.name, len(stored ^ counted))
            )
    return found


def check(db: Database) -> list[str]:
    """Compare the totals with a recount; on a difference (a write that
    bypassed allotment: SQL by hand, the reference service), log it and
    rebuild them. Run by the one worker of the deployment that claims
    ``CHECK_TASK`` in an interval (``Snapshot.periodic_checks``)."""
    with db.read(consistent=True) as conn:
        found = differences(conn)
    if found:
        LOG.warning(
            "usage totals differed from the allocations (%s): recounting "
            "(a write that bypassed allotment?)",
            "; ".join(found),
        )
        db.run_write(rebuild)
    return found
