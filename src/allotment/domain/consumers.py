"""Consumers and what they point at: projects, users and consumer types.

A consumer row exists while the consumer holds allocations; it records the
owning project and user (external ids mapped to internal rows created on
first use), an optional consumer type (shown as ``unknown`` when unset) and
a generation that advances on every change of the consumer's allocations.

``list_page`` serves operators (GET /allotment/consumers): consumers with
their owner, type, generation, time stamps and allocation totals, filtered
and paginated in uuid order.
"""

from __future__ import annotations

import datetime
import functools
from typing import TYPE_CHECKING
from typing import Any
from typing import NamedTuple

import sqlalchemy as sa

from allotment.domain import resource_classes
from allotment.storage import tables
from allotment.storage.clock import utcnow

if TYPE_CHECKING:
    from oslo_config import cfg

CONSUMERS = tables.consumers
PROJECTS = tables.projects
USERS = tables.users
TYPES = tables.consumer_types
ALLOC = tables.allocations
RP = tables.resource_providers

# The name shown for a consumer whose type was never set.
UNKNOWN_TYPE = "unknown"


def owner_or_incomplete(
    conf: cfg.ConfigOpts, project_id: str | None, user_id: str | None
) -> tuple[str, str | None]:
    """(project, user) external ids, or the configured "incomplete consumer"
    pair when the request named no project (before microversion 1.8)."""
    if project_id is None:
        return (
            conf.placement.incomplete_consumer_project_id,
            conf.placement.incomplete_consumer_user_id,
        )
    return project_id, user_id


# The claim path's statements are built once, with bind parameters
# (expanding ones for IN lists): building a statement and computing its
# cache key cost more than running it.

# What owners are looked up by: kind -> (table, column of the external id
# or name). The claim reads their ids with its other look-ups
# (domain/allocations.py) and has the missing ones created (``with_new``).
OWNER_KEYS = {
    "project": (PROJECTS, "external_id"),
    "user": (USERS, "external_id"),
    "type": (TYPES, "name"),
}


class Consumer(NamedTuple):
    """A consumer's row, as the claim reads it."""

    id: int
    uuid: str
    generation: int
    project_id: int
    user_id: int
    consumer_type_id: int | None


@functools.cache
def _row_statements(kind: str) -> tuple[sa.Select, sa.Insert]:
    """(value -> id of the rows with ``:values``, the insert) of the owner
    table of ``kind``."""
    table, column = OWNER_KEYS[kind]
    col = table.c[column]
    return (
        sa.select(col, table.c.id).where(
            col.in_(sa.bindparam("values", expanding=True))
        ),
        table.insert(),
    )


def with_new(
    conn: sa.Connection, kind: str, found: dict[str, int], values: set[str]
) -> dict[str, int]:
    """``found`` (value -> id of the owners of ``kind`` read so far)
    completed with the ids of the rows inserted for the ``values`` it
    lacks. A concurrent insert of the same value surfaces as an
    IntegrityError, which the caller's transaction retry absorbs."""
    missing = values - found.keys()
    if not missing:
        return found
    select, insert = _row_statements(kind)
    column = OWNER_KEYS[kind][1]
    now = utcnow()
    conn.execute(
        insert,
        [{column: value, "created_at": now} for value in sorted(missing)],
    )
    found = dict(found)
    found.update(conn.execute(select, {"values": list(missing)}).all())
    return found


_CREATE = CONSUMERS.insert()


def create(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert consumers: dicts of uuid, project_id, user_id, generation,
    consumer_type_id. A concurrent creation of the same consumer raises
    IntegrityError (unique uuid)."""
    if rows:
        now = utcnow()
        conn.execute(_CREATE, [dict(row, created_at=now) for row in rows])


# The consumer row with ``:consumer_id`` at ``:seen_generation``.
_SEEN = (
    CONSUMERS.c.id == sa.bindparam("consumer_id"),
    CONSUMERS.c.generation == sa.bindparam("seen_generation"),
)


def _advance(with_type: bool) -> sa.Update:
    """The update of ``advance``, setting the consumer type or not."""
    values = {
        name: sa.bindparam("new_" + name, type_=CONSUMERS.c[name].type)
        for name in ("generation", "project_id", "user_id", "updated_at")
        + (("consumer_type_id",) if with_type else ())
    }
    return CONSUMERS.update().where(*_SEEN).values(values)


_ADVANCE = {with_type: _advance(with_type) for with_type in (False, True)}
_REMOVE = CONSUMERS.delete().where(*_SEEN)


def advance(
    conn: sa.Connection,
    consumer: Consumer,
    project_id: int,
    user_id: int,
    consumer_type_id: int | None,
) -> bool:
    """Move ``consumer`` to its next generation, setting its owner (and its
    type unless ``consumer_type_id`` is None). False when another writer
    changed the consumer since it was read."""
    params = {
        "consumer_id": consumer.id,
        "seen_generation": consumer.generation,
        "new_generation": consumer.generation + 1,
        "new_project_id": project_id,
        "new_user_id": user_id,
        "new_updated_at": utcnow(),
    }
    if consumer_type_id is not None:
        params["new_consumer_type_id"] = consumer_type_id
    result = conn.execute(_ADVANCE[consumer_type_id is not None], params)
    return result.rowcount == 1


def remove(conn: sa.Connection, consumer: Consumer) -> bool:
    """Delete ``consumer`` if it is still at the generation read; False when
    another writer changed it first."""
    result = conn.execute(
        _REMOVE,
        {"consumer_id": consumer.id, "seen_generation": consumer.generation},
    )
    return result.rowcount == 1


class Filters(NamedTuple):
    """What GET /allotment/consumers narrows the list to (None: any).

    ``project_id`` and ``user_id`` are external ids; ``consumer_type`` a
    type name (``unknown``: consumers without one); ``provider`` a provider
    uuid the consumer holds allocations on; ``updated_before`` a naive UTC
    time the consumer was last written before (its creation time when it
    was never updated); ``marker`` the last uuid of the previous page.
    """

    project_id: str | None = None
    user_id: str | None = None
    consumer_type: str | None = None
    provider: str | None = None
    updated_before: datetime.datetime | None = None
    marker: str | None = None


def list_page(
    conn: sa.Connection, filters: Filters, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """``(consumers, more)``: up to ``limit`` consumers matching
    ``filters`` after ``filters.marker``, in uuid order, each a dict of
    uuid, project_id, user_id, consumer_type, generation, created_at,
    updated_at and allocations ({class name: total used, over every
    provider}); ``more`` when further consumers match."""
    query = (
        sa.select(
            CONSUMERS.c.uuid,
            PROJECTS.c.external_id.label("project_id"),
            USERS.c.external_id.label("user_id"),
            TYPES.c.name.label("consumer_type"),
            CONSUMERS.c.generation,
            CONSUMERS.c.created_at,
            CONSUMERS.c.updated_at,
        )
        .select_from(
            CONSUMERS.join(PROJECTS, PROJECTS.c.id == CONSUMERS.c.project_id)
            .join(USERS, USERS.c.id == CONSUMERS.c.user_id)
            .outerjoin(TYPES, TYPES.c.id == CONSUMERS.c.consumer_type_id)
        )
        .order_by(CONSUMERS.c.uuid)
        .limit(limit + 1)
    )
    if filters.project_id is not None:
        query = query.where(PROJECTS.c.external_id == filters.project_id)
    if filters.user_id is not None:
        query = query.where(USERS.c.external_id == filters.user_id)
    if filters.consumer_type == UNKNOWN_TYPE:
        query = query.where(CONSUMERS.c.consumer_type_id.is_(None))
    elif filters.consumer_type is not None:
        query = query.where(TYPES.c.name == filters.consumer_type)
    if filters.provider is not None:
        query = query.where(
            sa.exists().where(
                ALLOC.c.consumer_id == CONSUMERS.c.uuid,
                ALLOC.c.resource_provider_id == RP.c.id,
                RP.c.uuid == filters.provider,
            )
        )
    if filters.updated_before is not None:
        written = sa.func.coalesce(
            CONSUMERS.c.updated_at, CONSUMERS.c.created_at
        )
        query = query.where(written < filters.updated_before)
    if filters.marker is not None:
        query = query.where(CONSUMERS.c.uuid > filters.marker)
    rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    totals = _allocation_totals(conn, [row.uuid for row in rows])
    return [
        {
            "uuid": row.uuid,
            "project_id": row.project_id,
            "user_id": row.user_id,
            "consumer_type": row.consumer_type or UNKNOWN_TYPE,
            "generation": row.generation,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "allocations": totals.get(row.uuid, {}),
        }
        for row in rows
    ], more


def _allocation_totals(
    conn: sa.Connection, uuids: list[str]
) -> dict[str, dict[str, int]]:
    """consumer uuid -> {class name: amount used over every provider}."""
    if not uuids:
        return {}
    rows = conn.execute(
        sa.select(
            ALLOC.c.consumer_id,
            ALLOC.c.resource_class_id,
            sa.func.sum(ALLOC.c.used),
        )
        .where(ALLOC.c.consumer_id.in_(uuids))
        .group_by(ALLOC.c.consumer_id, ALLOC.c.resource_class_id)
        .order_by(ALLOC.c.resource_class_id)
    ).all()
    names = resource_classes.names_for(conn, {r[1] for r in rows})
    result: dict[str, dict[str, int]] = {}
    for consumer, rc_id, used in rows:
        name = names.get(rc_id, "unknown class %d" % rc_id)
        result.setdefault(consumer, {})[name] = int(used)
    return result
