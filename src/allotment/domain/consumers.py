"""Consumers and what they point at: projects, users and consumer types.

A consumer row exists while the consumer holds allocations; it records the
owning project and user (external ids mapped to internal rows created on
first use), an optional consumer type (shown as ``unknown`` when unset) and
a generation that advances on every change of the consumer's allocations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

import sqlalchemy as sa

from allotment.storage import tables
from allotment.storage.clock import utcnow

if TYPE_CHECKING:
    from oslo_config import cfg

CONSUMERS = tables.consumers
PROJECTS = tables.projects
USERS = tables.users
TYPES = tables.consumer_types

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


def _ensure_rows(
    conn: sa.Connection, table: sa.Table, column: str, values: Iterable[str]
) -> dict[str, int]:
    """Map each of ``values`` to the id of its row in ``table``, inserting
    the missing rows. A concurrent insert of the same value surfaces as an
    IntegrityError, which the caller's transaction retry absorbs."""
    values = set(values)
    if not values:
        return {}
    col = table.c[column]
    found = dict(
        conn.execute(sa.select(col, table.c.id).where(col.in_(values))).all()
    )
    missing = values - found.keys()
    if missing:
        now = utcnow()
        conn.execute(
            table.insert(),
            [{column: value, "created_at": now} for value in sorted(missing)],
        )
        found.update(
            conn.execute(
                sa.select(col, table.c.id).where(col.in_(missing))
            ).all()
        )
    return found


def project_ids(
    conn: sa.Connection, external_ids: Iterable[str]
) -> dict[str, int]:
    """external project id -> internal id, creating missing projects."""
    return _ensure_rows(conn, PROJECTS, "external_id", external_ids)


def user_ids(
    conn: sa.Connection, external_ids: Iterable[str]
) -> dict[str, int]:
    """external user id -> internal id, creating missing users."""
    return _ensure_rows(conn, USERS, "external_id", external_ids)


def type_ids(conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
    """consumer type name -> id, creating missing types."""
    return _ensure_rows(conn, TYPES, "name", names)


def find(conn: sa.Connection, uuids: Iterable[str]) -> dict[str, sa.Row]:
    """uuid -> consumer row (id, uuid, generation, project_id, user_id,
    consumer_type_id) for the consumers of ``uuids`` that exist."""
    if not uuids:
        return {}
    rows = conn.execute(
        sa.select(
            CONSUMERS.c.id,
            CONSUMERS.c.uuid,
            CONSUMERS.c.generation,
            CONSUMERS.c.project_id,
            CONSUMERS.c.user_id,
            CONSUMERS.c.consumer_type_id,
        ).where(CONSUMERS.c.uuid.in_(set(uuids)))
    ).all()
    return {row.uuid: row for row in rows}


def create(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert consumers: dicts of uuid, project_id, user_id, generation,
    consumer_type_id. A concurrent creation of the same consumer raises
    IntegrityError (unique uuid)."""
    if rows:
        now = utcnow()
        conn.execute(
            CONSUMERS.insert(), [dict(row, created_at=now) for row in rows]
        )


def advance(
    conn: sa.Connection,
    consumer: sa.Row,
    project_id: int,
    user_id: int,
    consumer_type_id: int | None,
) -> bool:
    """Move ``consumer`` to its next generation, setting its owner (and its
    type unless ``consumer_type_id`` is None). False when another writer
    changed the consumer since it was read."""
    values = {
        "generation": consumer.generation + 1,
        "project_id": project_id,
        "user_id": user_id,
        "updated_at": utcnow(),
    }
    if consumer_type_id is not None:
        values["consumer_type_id"] = consumer_type_id
    result = conn.execute(
        CONSUMERS.update()
        .where(
            CONSUMERS.c.id == consumer.id,
            CONSUMERS.c.generation == consumer.generation,
        )
        .values(**values)
    )
    return result.rowcount == 1


def remove(conn: sa.Connection, consumer: sa.Row) -> bool:
    """Delete ``consumer`` if it is still at the generation read; False when
    another writer changed it first."""
    result = conn.execute(
        CONSUMERS.delete().where(
            CONSUMERS.c.id == consumer.id,
            CONSUMERS.c.generation == consumer.generation,
        )
    )
    return result.rowcount == 1
