"""Usages: how much of each resource class is allocated, per provider or per
project (and user), optionally split by consumer type (microversion 1.38).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from allotment.domain import resource_classes
from allotment.storage import tables

INV = tables.inventories
ALLOC = tables.allocations
CONS = tables.consumers
PROJ = tables.projects
USERS = tables.users
CT = tables.consumer_types

# Consumers without a consumer type are reported under this name.
UNKNOWN = "unknown"
ALL = "all"


def for_provider(conn: sa.Connection, provider_id: int) -> dict[str, int]:
    """{class name: amount used} for every class the provider has inventory
    of (0 when nothing is allocated)."""
    rows = conn.execute(
        sa.select(
            INV.c.resource_class_id,
            sa.func.coalesce(sa.func.sum(ALLOC.c.used), 0),
        )
        .select_from(
            INV.outerjoin(
                ALLOC,
                sa.and_(
                    ALLOC.c.resource_provider_id == INV.c.resource_provider_id,
                    ALLOC.c.resource_class_id == INV.c.resource_class_id,
                ),
            )
        )
        .where(INV.c.resource_provider_id == provider_id)
        .group_by(INV.c.resource_class_id)
        .order_by(INV.c.resource_class_id)
    ).all()
    return _by_class_name(conn, rows)


def _by_class_name(
    conn: sa.Connection, rows: Sequence[sa.Row]
) -> dict[str, int]:
    names = resource_classes.names_for(conn, [r[0] for r in rows])
    return {names[rc_id]: int(used) for rc_id, used in rows}


def _allocations_of(
    project_id: str, user_id: str | None, *columns: Any
) -> sa.Select:
    """A select of ``columns`` over the allocations of the consumers of a
    project (and user), joined with their consumer types."""
    joined = (
        ALLOC.join(CONS, CONS.c.uuid == ALLOC.c.consumer_id)
        .join(PROJ, PROJ.c.id == CONS.c.project_id)
        .outerjoin(CT, CT.c.id == CONS.c.consumer_type_id)
    )
    conditions = [PROJ.c.external_id == project_id]
    if user_id is not None:
        joined = joined.join(USERS, USERS.c.id == CONS.c.user_id)
        conditions.append(USERS.c.external_id == user_id)
    return sa.select(*columns).select_from(joined).where(*conditions)


def totals(
    conn: sa.Connection,
    project_id: str,
    user_id: str | None = None,
    unknown_type_only: bool = False,
) -> dict[str, int]:
    """{class name: amount used} by the consumers of a project (and user)."""
    query = _allocations_of(
        project_id,
        user_id,
        ALLOC.c.resource_class_id,
        sa.func.sum(ALLOC.c.used),
    )
    if unknown_type_only:
        query = query.where(CONS.c.consumer_type_id.is_(None))
    rows = conn.execute(
        query.group_by(ALLOC.c.resource_class_id).order_by(
            ALLOC.c.resource_class_id
        )
    ).all()
    return _by_class_name(conn, rows)


def _consumer_count(
    conn: sa.Connection,
    project_id: str,
    user_id: str | None,
    unknown_type_only: bool,
) -> int:
    query = _allocations_of(
        project_id, user_id, sa.func.count(sa.distinct(ALLOC.c.consumer_id))
    )
    if unknown_type_only:
        query = query.where(CONS.c.consumer_type_id.is_(None))
    return conn.scalar(query)


def by_consumer_type(
    conn: sa.Connection,
    project_id: str,
    user_id: str | None = None,
    consumer_type: str | None = None,
) -> dict[str, dict[str, int]]:
    """{consumer type: {class name: used, ..., "consumer_count": n}}.

    ``consumer_type`` "all" lumps every consumer under "all"; "unknown"
    keeps consumers without a type; another name keeps that type; None
    splits the usage by type (untyped consumers under "unknown").
    """
    if consumer_type in (ALL, UNKNOWN):
        unknown_only = consumer_type == UNKNOWN
        used = totals(conn, project_id, user_id, unknown_only)
        if not used:
            return {}
        used["consumer_count"] = _consumer_count(
            conn, project_id, user_id, unknown_only
        )
        return {consumer_type: used}

    def query(*columns: Any) -> sa.Select:
        select = _allocations_of(project_id, user_id, *columns)
        if consumer_type is not None:
            select = select.where(CT.c.name == consumer_type)
        return select

    counts = dict(
        conn.execute(
            query(
                CT.c.name, sa.func.count(sa.distinct(ALLOC.c.consumer_id))
            ).group_by(CT.c.name)
        ).all()
    )
    rows = conn.execute(
        query(CT.c.name, ALLOC.c.resource_class_id, sa.func.sum(ALLOC.c.used))
        .group_by(CT.c.name, ALLOC.c.resource_class_id)
        .order_by(ALLOC.c.resource_class_id)
    ).all()
    names = resource_classes.names_for(conn, [r[1] for r in rows])
    result: dict[str, dict[str, int]] = {}
    for type_name, rc_id, used in rows:
        entry = result.setdefault(type_name or UNKNOWN, {})
        entry[names[rc_id]] = int(used)
        entry["consumer_count"] = counts[type_name]
    return result
