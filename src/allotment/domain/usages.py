"""Usages: how much of each resource class is allocated, per provider or per
project (and user), optionally split by consumer type (microversion 1.38).

Per project, usage is read from the totals the writes keep
(``storage/usage_totals.py``): a few rows, however many consumers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from allotment.domain import provider_lookup
from allotment.domain import resource_classes
from allotment.storage import tables

RP = tables.resource_providers
INV = tables.inventories
ALLOC = tables.allocations
TOTALS = tables.usage_totals
COUNTS = tables.consumer_totals
PROJ = tables.projects
USERS = tables.users
CT = tables.consumer_types

# Consumers without a consumer type are reported under this name.
UNKNOWN = "unknown"
ALL = "all"


# A provider's usage per class it has inventory of, found by uuid in one
# statement (one round trip: the read the API answers most often after
# candidates): a row per class, or one row with no class for a provider
# without inventory.
_OF_PROVIDER = (
    sa.select(
        RP.c.generation,
        INV.c.resource_class_id,
        sa.func.coalesce(sa.func.sum(ALLOC.c.used), 0),
    )
    .select_from(
        RP.outerjoin(INV, INV.c.resource_provider_id == RP.c.id).outerjoin(
            ALLOC,
            sa.and_(
                ALLOC.c.resource_provider_id == INV.c.resource_provider_id,
                ALLOC.c.resource_class_id == INV.c.resource_class_id,
            ),
        )
    )
    .where(RP.c.uuid == sa.bindparam("uuid"))
    .group_by(RP.c.id, RP.c.generation, INV.c.resource_class_id)
    .order_by(INV.c.resource_class_id)
)


def of_provider(conn: sa.Connection, uuid: str) -> tuple[int, dict[str, int]]:
    """``(generation, {class name: amount used})`` of the provider
    ``uuid``: every class it has inventory of (0 when nothing is
    allocated); 404 when there is no such provider."""
    rows = conn.execute(_OF_PROVIDER, {"uuid": uuid}).all()
    if not rows:
        raise provider_lookup.not_found(uuid)
    generation = rows[0][0]
    held = [(rc_id, used) for _g, rc_id, used in rows if rc_id is not None]
    return generation, by_class_name(conn, held)


def by_class_name(conn: sa.Connection, rows: Sequence[Any]) -> dict[str, int]:
    """{class name: amount} of ``rows``, (class id, amount) pairs."""
    names = resource_classes.names_for(conn, [r[0] for r in rows])
    return {names[rc_id]: int(used) for rc_id, used in rows}


def _owned(table: sa.Table, project_id: str, user_id: str | None) -> Any:
    """The join of a totals table with the project (and user) named by
    external id, and the conditions selecting them."""
    joined = table.join(PROJ, PROJ.c.id == table.c.project_id)
    conditions = [PROJ.c.external_id == project_id]
    if user_id is not None:
        joined = joined.join(USERS, USERS.c.id == table.c.user_id)
        conditions.append(USERS.c.external_id == user_id)
    return joined, conditions


def _usage_of(
    project_id: str, user_id: str | None, *columns: Any
) -> sa.Select:
    """A select of ``columns`` over the usage totals of a project (and
    user), joined with their consumer types (none for type 0)."""
    joined, conditions = _owned(TOTALS, project_id, user_id)
    joined = joined.outerjoin(CT, CT.c.id == TOTALS.c.consumer_type_id)
    return (
        sa.select(*columns)
        .select_from(joined)
        .where(*conditions, TOTALS.c.allocations > 0)
    )


def _consumers_of(
    project_id: str, user_id: str | None, *columns: Any
) -> sa.Select:
    """The same over the consumer totals."""
    joined, conditions = _owned(COUNTS, project_id, user_id)
    joined = joined.outerjoin(CT, CT.c.id == COUNTS.c.consumer_type_id)
    return (
        sa.select(*columns)
        .select_from(joined)
        .where(*conditions, COUNTS.c.consumers > 0)
    )


def totals(
    conn: sa.Connection,
    project_id: str,
    user_id: str | None = None,
    unknown_type_only: bool = False,
) -> dict[str, int]:
    """{class name: amount used} by the consumers of a project (and user)."""
    query = _usage_of(
        project_id,
        user_id,
        TOTALS.c.resource_class_id,
        sa.func.sum(TOTALS.c.used),
    )
    if unknown_type_only:
        query = query.where(TOTALS.c.consumer_type_id == 0)
    rows = conn.execute(
        query.group_by(TOTALS.c.resource_class_id).order_by(
            TOTALS.c.resource_class_id
        )
    ).all()
    return by_class_name(conn, rows)


def _consumer_count(
    conn: sa.Connection,
    project_id: str,
    user_id: str | None,
    unknown_type_only: bool,
) -> int:
    query = _consumers_of(project_id, user_id, sa.func.sum(COUNTS.c.consumers))
    if unknown_type_only:
        query = query.where(COUNTS.c.consumer_type_id == 0)
    return int(conn.scalar(query) or 0)


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

    def only_type(select: sa.Select) -> sa.Select:
        if consumer_type is not None:
            select = select.where(CT.c.name == consumer_type)
        return select

    counts = dict(
        conn.execute(
            only_type(
                _consumers_of(
                    project_id,
                    user_id,
                    CT.c.name,
                    sa.func.sum(COUNTS.c.consumers),
                )
            ).group_by(CT.c.name)
        ).all()
    )
    rows = conn.execute(
        only_type(
            _usage_of(
                project_id,
                user_id,
                CT.c.name,
                TOTALS.c.resource_class_id,
                sa.func.sum(TOTALS.c.used),
            )
        )
        .group_by(CT.c.name, TOTALS.c.resource_class_id)
        .order_by(TOTALS.c.resource_class_id)
    ).all()
    names = resource_classes.names_for(conn, [r[1] for r in rows])
    result: dict[str, dict[str, int]] = {}
    for type_name, rc_id, used in rows:
        entry = result.setdefault(type_name or UNKNOWN, {})
        entry[names[rc_id]] = int(used)
        entry["consumer_count"] = int(counts[type_name])
    return result
