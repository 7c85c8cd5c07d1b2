"""Online data migrations: bring rows written under older rules up to date.

Each migration takes a connection, the configuration and a batch size, fixes
at most that many records and answers ``(found, done)``: how many candidate
records it found (up to the batch size) and how many it fixed. They are
idempotent, so ``placement-manage db online_data_migrations`` can run them
in batches until both numbers are zero. The ``count_*`` helpers tell how
much work is pending without doing it (``placement-status upgrade check``).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from allotment.storage import changes
from allotment.storage import tables
from allotment.storage import usage_totals
from allotment.storage.clock import utcnow

if TYPE_CHECKING:
    from oslo_config import cfg

    from allotment.storage.engine import Database

RP = tables.resource_providers
ALLOC = tables.allocations
CONSUMER = tables.consumers


def count_missing_root_ids(conn: sa.Connection) -> int:
    """Providers whose root_provider_id is NULL."""
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(RP)
        .where(RP.c.root_provider_id.is_(None))
    ).scalar_one()


def count_incomplete_consumers(conn: sa.Connection) -> int:
    """Distinct consumers that hold allocations but have no consumers row."""
    joined = ALLOC.outerjoin(CONSUMER, ALLOC.c.consumer_id == CONSUMER.c.uuid)
    return conn.execute(
        sa.select(sa.func.count(sa.distinct(ALLOC.c.consumer_id)))
        .select_from(joined)
        .where(CONSUMER.c.id.is_(None))
    ).scalar_one()


def set_root_provider_ids(
    conn: sa.Connection, conf: cfg.ConfigOpts, batch_size: int
) -> tuple[int, int]:
    """Make providers without a root provider their own root."""
    ids = list(
        conn.scalars(
            sa.select(RP.c.id)
            .where(RP.c.root_provider_id.is_(None))
            .order_by(RP.c.id)
            .limit(batch_size)
        )
    )
    if not ids:
        return 0, 0
    done = conn.execute(
        RP.update()
        .where(RP.c.id.in_(ids))
        .where(RP.c.root_provider_id.is_(None))
        .values(root_provider_id=RP.c.id)
    ).rowcount
    changes.record(conn, ids)
    return len(ids), done


def _ensure_external(
    conn: sa.Connection, table: sa.Table, external_id: str
) -> int:
    """The internal id of the projects/users row for ``external_id``."""
    found = conn.scalar(
        sa.select(table.c.id).where(table.c.external_id == external_id)
    )
    if found is not None:
        return found
    key = conn.execute(
        table.insert().values(external_id=external_id, created_at=utcnow())
    ).inserted_primary_key
    assert key is not None  # an INSERT of one row
    return int(key[0])


def create_incomplete_consumers(
    conn: sa.Connection, conf: cfg.ConfigOpts, batch_size: int
) -> tuple[int, int]:
    """Give allocations whose consumer has no consumers row such a row.

    The new consumers belong to the configured incomplete-consumer project
    and user, as the API's own consumers created before 1.8 do.
    """
    joined = ALLOC.outerjoin(CONSUMER, ALLOC.c.consumer_id == CONSUMER.c.uuid)
    missing = list(
        conn.scalars(
            sa.select(ALLOC.c.consumer_id)
            .select_from(joined)
            .where(CONSUMER.c.id.is_(None))
            .group_by(ALLOC.c.consumer_id)
            .order_by(ALLOC.c.consumer_id)
            .limit(batch_size)
        )
    )
    if not missing:
        return 0, 0
    project_id = _ensure_external(
        conn, tables.projects, conf.placement.incomplete_consumer_project_id
    )
    user_id = _ensure_external(
        conn, tables.users, conf.placement.incomplete_consumer_user_id
    )
    now = utcnow()
    conn.execute(
        CONSUMER.insert(),
        [
            {
                "uuid": uuid,
                "project_id": project_id,
                "user_id": user_id,
                "generation": 0,
                "created_at": now,
            }
            for uuid in missing
        ],
    )
    # Their allocations now count in the project's usage.
    delta = usage_totals.Delta()
    held = collections.defaultdict(list)
    for consumer_uuid, rc_id, used in conn.execute(
        sa.select(
            ALLOC.c.consumer_id, ALLOC.c.resource_class_id, ALLOC.c.used
        ).where(ALLOC.c.consumer_id.in_(missing))
    ):
        held[consumer_uuid].append((rc_id, used))
    owner = usage_totals.owner_of(project_id, user_id, None)
    for allocations in held.values():
        delta.add(owner, allocations)
    delta.apply(conn)
    return len(missing), len(missing)


# In the order they run, under the names the reference reports them by.
MIGRATIONS = (
    ("set_root_provider_ids", set_root_provider_ids),
    ("create_incomplete_consumers", create_incomplete_consumers),
)


def run_batch(
    database: Database,
    conf: cfg.ConfigOpts,
    max_count: int,
    on_error: Callable[[str, Exception], object],
) -> tuple[dict[str, tuple[int, int]], bool]:
    """Run every migration once, sharing a budget of ``max_count`` records.

    Each migration runs in its own write transaction. A migration that
    raises is reported through ``on_error(name, exc)`` and counted as
    ``(0, 0)``. Answers ``(results, failed)``: ``{name: (found, done)}`` in
    run order (migrations after the budget ran out are absent) and whether
    any migration raised.
    """
    results = {}
    failed = False
    done_total = 0
    for name, migration in MIGRATIONS:
        try:
            found, done = database.run_write(
                migration, conf, max_count - done_total
            )
        except Exception as exc:  # reported, then the next one runs
            on_error(name, exc)
            failed = True
            found = done = 0
        results[name] = (found, done)
        done_total += done
        if done_total >= max_count:
            break
    return results, failed
