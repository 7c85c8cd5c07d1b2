"""Resource classes: the standard set (ids below 10000) and CUSTOM_* ones."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

import os_resource_classes as orc
import sqlalchemy as sa

from allotment import exceptions
from allotment.storage import standard_rows
from allotment.storage import tables
from allotment.storage.clock import utcnow

MIN_CUSTOM_ID = standard_rows.MIN_CUSTOM_ID

RC = tables.resource_classes

# Standard classes never change once synced, so their ids are cached for
# the life of the process; custom classes are always read from the database.
_STANDARD_IDS: dict[str, int] = {}
_STANDARD_NAMES: dict[int, str] = {}


def _load_standard(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(RC.c.id, RC.c.name).where(RC.c.id < MIN_CUSTOM_ID)
    ).all()
    for rc_id, name in rows:
        _STANDARD_IDS[name] = rc_id
        _STANDARD_NAMES[rc_id] = name


def cached(names: Iterable[str]) -> bool:
    """True when every one of ``names`` is a standard class whose id is
    cached: looking them up reads nothing."""
    return all(name in _STANDARD_IDS for name in names)


def id_for(conn: sa.Connection, name: str) -> int | None:
    """The id of the resource class ``name``, or None."""
    if not _STANDARD_IDS:
        _load_standard(conn)
    rc_id = _STANDARD_IDS.get(name)
    if rc_id is not None:
        return rc_id
    return conn.scalar(sa.select(RC.c.id).where(RC.c.name == name))


def _translate(
    conn: sa.Connection,
    keys: Iterable[Any],
    standard: dict[Any, Any],
    key_column: sa.Column[Any],
    value_column: sa.Column[Any],
) -> dict[Any, Any]:
    """Map each known key to its value: standard classes from the cache,
    custom ones with one query (unknown keys omitted)."""
    if not _STANDARD_IDS:
        _load_standard(conn)
    result = {}
    custom = []
    for key in keys:
        if key in standard:
            result[key] = standard[key]
        else:
            custom.append(key)
    if custom:
        result.update(
            conn.execute(
                sa.select(key_column, value_column).where(
                    key_column.in_(custom)
                )
            ).all()
        )
    return result


def standard_ids(
    conn: sa.Connection, names: Iterable[str]
) -> tuple[dict[str, int], list[str]]:
    """(name -> id of the standard classes among ``names``, the other
    names): the others are custom or unknown, for the caller to look up
    (the claim does it in its first read)."""
    if not _STANDARD_IDS:
        _load_standard(conn)
    known = {}
    other = []
    for name in names:
        rc_id = _STANDARD_IDS.get(name)
        if rc_id is None:
            other.append(name)
        else:
            known[name] = rc_id
    return known, other


def ids_for(conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
    """Map each known name in ``names`` to its id (unknown ones omitted)."""
    return _translate(conn, names, _STANDARD_IDS, RC.c.name, RC.c.id)


def names_for(conn: sa.Connection, ids: Iterable[int]) -> dict[int, str]:
    """Map each id in ``ids`` to its resource class name."""
    return _translate(conn, ids, _STANDARD_NAMES, RC.c.id, RC.c.name)


def get(conn: sa.Connection, name: str) -> sa.Row:
    """The row (id, name, created_at, updated_at) of ``name``; 404 if none."""
    row = conn.execute(sa.select(RC).where(RC.c.name == name)).first()
    if row is None:
        raise exceptions.NotFound("No such resource class %s." % name)
    return row


def list_all(conn: sa.Connection) -> Sequence[sa.Row]:
    return conn.execute(sa.select(RC).order_by(RC.c.id)).all()


def create(conn: sa.Connection, name: str) -> int:
    """Create the custom class ``name``; 409 when it exists."""
    exists = conn.scalar(sa.select(RC.c.id).where(RC.c.name == name))
    if exists is not None or name in orc.STANDARDS:
        # No specific code: the reference answers placement.undefined_code.
        raise exceptions.Conflict(
            "Conflicting resource class already exists: %s" % name
        )
    next_id = conn.scalar(sa.select(sa.func.max(RC.c.id)))
    next_id = max((next_id or 0) + 1, MIN_CUSTOM_ID)
    conn.execute(
        RC.insert().values(id=next_id, name=name, created_at=utcnow())
    )
    return next_id


def ensure(conn: sa.Connection, name: str) -> bool:
    """Create the custom class ``name`` unless it exists; True when it was
    created."""
    if id_for(conn, name) is not None:
        return False
    create(conn, name)
    return True


def rename(conn: sa.Connection, old_name: str, new_name: str) -> sa.Row:
    """Rename a custom class (microversions 1.2 to 1.6)."""
    row = get(conn, old_name)
    if row.id < MIN_CUSTOM_ID:
        raise exceptions.BadRequest(
            "Cannot update standard resource class %s" % old_name
        )
    clash = conn.scalar(sa.select(RC.c.id).where(RC.c.name == new_name))
    if clash is not None and clash != row.id:
        raise exceptions.Conflict(
            "Resource class already exists: %s" % new_name,
            exceptions.DUPLICATE_NAME,
        )
    conn.execute(
        RC.update()
        .where(RC.c.id == row.id)
        .values(name=new_name, updated_at=utcnow())
    )
    return get(conn, new_name)


def delete(conn: sa.Connection, name: str) -> None:
    row = get(conn, name)
    if row.id < MIN_CUSTOM_ID:
        raise exceptions.BadRequest(
            "Error in delete resource class: Cannot delete standard "
            "resource class %s." % name
        )
    in_use = conn.scalar(
        sa.select(sa.func.count())
        .select_from(tables.inventories)
        .where(tables.inventories.c.resource_class_id == row.id)
    )
    if in_use:
        raise exceptions.Conflict(
            "Error in delete resource class: Cannot delete resource class "
            "%s. Class is in use in inventory." % name
        )
    conn.execute(RC.delete().where(RC.c.id == row.id))
