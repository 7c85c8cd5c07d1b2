"""Consumers and what they point at: projects, users and consumer types.

A consumer row exists while the consumer holds allocations; it records the
owning project and user (external ids mapped to internal rows created on
first use), an optional consumer type (shown as ``unknown`` when unset) and
a generation that advances on every change of the consumer's allocations.
"""

import sqlalchemy as sa

from allotment.storage import tables
from allotment.storage.clock import utcnow

CONSUMERS = tables.consumers
PROJECTS = tables.projects
USERS = tables.users
TYPES = tables.consumer_types

# The name shown for a consumer whose type was never set.
UNKNOWN_TYPE = "unknown"


def owner_or_incomplete(conf, project_id, user_id):
    """(project, user) external ids, or the configured "incomplete consumer"
    pair when the request named no project (before microversion 1.8)."""
    if project_id is None:
        return (conf.placement.incomplete_consumer_project_id,
                conf.placement.incomplete_consumer_user_id)
    return project_id, user_id


def _ensure_rows(conn, table, column, values):
    """Map each of ``values`` to the id of its row in ``table``, inserting
    the missing rows. A concurrent insert of the same value surfaces as an
    IntegrityError, which the caller's transaction retry absorbs."""
    values = set(values)
    if not values:
        return {}
    col = table.c[column]
    found = dict(conn.execute(
        sa.select(col, table.c.id).where(col.in_(values))).all())
    missing = values - found.keys()
    if missing:
        now = utcnow()
        conn.execute(table.insert(), [
            {column: value, "created_at": now} for value in sorted(missing)])
        found.update(conn.execute(
            sa.select(col, table.c.id).where(col.in_(missing))).all())
    return found


def project_ids(conn, external_ids):
    """external project id -> internal id, creating missing projects."""
    return _ensure_rows(conn, PROJECTS, "external_id", external_ids)


def user_ids(conn, external_ids):
    """external user id -> internal id, creating missing users."""
    return _ensure_rows(conn, USERS, "external_id", external_ids)


def type_ids(conn, names):
    """consumer type name -> id, creating missing types."""
    return _ensure_rows(conn, TYPES, "name", names)


def find(conn, uuids):
    """uuid -> consumer row (id, uuid, generation, project_id, user_id,
    consumer_type_id) for the consumers of ``uuids`` that exist."""
    if not uuids:
        return {}
    rows = conn.execute(sa.select(
        CONSUMERS.c.id, CONSUMERS.c.uuid, CONSUMERS.c.generation,
        CONSUMERS.c.project_id, CONSUMERS.c.user_id,
        CONSUMERS.c.consumer_type_id,
    ).where(CONSUMERS.c.uuid.in_(set(uuids)))).all()
    return {row.uuid: row for row in rows}


def create(conn, rows):
    """Insert consumers: dicts of uuid, project_id, user_id, generation,
    consumer_type_id. A concurrent creation of the same consumer raises
    IntegrityError (unique uuid)."""
    if rows:
        now = utcnow()
        conn.execute(CONSUMERS.insert(), [
            dict(row, created_at=now) for row in rows])


def advance(conn, consumer, project_id, user_id, consumer_type_id):
    """Move ``consumer`` to its next generation, setting its owner (and its
    type unless ``consumer_type_id`` is None). False when another writer
    changed the consumer since it was read."""
    values = {"generation": consumer.generation + 1,
              "project_id": project_id, "user_id": user_id,
              "updated_at": utcnow()}
    if consumer_type_id is not None:
        values["consumer_type_id"] = consumer_type_id
    result = conn.execute(CONSUMERS.update().where(
        CONSUMERS.c.id == consumer.id,
        CONSUMERS.c.generation == consumer.generation).values(**values))
    return result.rowcount == 1


def remove(conn, consumer):
    """Delete ``consumer`` if it is still at the generation read; False when
    another writer changed it first."""
    result = conn.execute(CONSUMERS.delete().where(
        CONSUMERS.c.id == consumer.id,
        CONSUMERS.c.generation == consumer.generation))
    return result.rowcount == 1

