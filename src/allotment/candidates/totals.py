"""Capacity, used and reserved amounts per resource class, added up per root
provider (over its whole tree) and per aggregate (over its member
providers), from a snapshot version: what the optional capacity metrics
export (``[allotment] export_capacity_metrics``). Capacity is the rule of
``domain/capacity.py`` (``Room.capacity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from allotment.storage import tables

if TYPE_CHECKING:
    from allotment.candidates.snapshot import Version

RP = tables.resource_providers
AGG = tables.placement_aggregates
_CHUNK = 500


@dataclass
class Amounts:
    capacity: float = 0.0
    used: int = 0
    reserved: int = 0

    def add(self, capacity: float, used: int, reserved: int) -> None:
        self.capacity += capacity
        self.used += used
        self.reserved += reserved


@dataclass
class Totals:
    """(root uuid, class name) and (aggregate uuid, class name) ->
    ``Amounts``; ``root_names``: root uuid -> provider name, for every
    root (those without inventories too)."""

    by_root: dict[tuple[str, str], Amounts] = field(default_factory=dict)
    by_aggregate: dict[tuple[str, str], Amounts] = field(default_factory=dict)
    root_names: dict[str, str] = field(default_factory=dict)


def add_up(conn: sa.Connection, version: Version) -> Totals:
    """The totals of every provider ``version`` holds (names and aggregate
    uuids are read through ``conn``)."""
    roots: dict[tuple[int, int], Amounts] = {}
    aggregates: dict[tuple[int, int], Amounts] = {}
    root_rows = set()
    for row in version.rows():
        root = version.root_of[row]
        root_rows.add(root)
        members = version.aggregates_of[row]
        for rc_id, room in version.inventory(row).items():
            figures = (room.capacity, room.used, room.reserved)
            roots.setdefault((root, rc_id), Amounts()).add(*figures)
            for agg_id in members:
                aggregates.setdefault((agg_id, rc_id), Amounts()).add(*figures)
    uuid_of, rc_names = version.uuid_of, version.rc_names
    agg_uuids = _lookup(conn, AGG, {agg for agg, _ in aggregates}, "uuid")
    result = Totals()
    for (root, rc_id), amounts in roots.items():
        uuid = uuid_of[root]
        assert uuid is not None
        result.by_root[(uuid, rc_names[rc_id])] = amounts
    for (agg_id, rc_id), amounts in aggregates.items():
        result.by_aggregate[(agg_uuids[agg_id], rc_names[rc_id])] = amounts
    ids = version.ids
    names = _lookup(conn, RP, {ids[root] for root in root_rows}, "name")
    result.root_names = {
        uuid_of[root]: names[ids[root]]  # type: ignore[misc]
        for root in root_rows
        if ids[root] in names
    }
    return result


def _lookup(
    conn: sa.Connection, table: sa.Table, ids: set[int], column: str
) -> dict[int, str]:
    wanted = sorted(ids)
    found: dict[int, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        found.update(
            conn.execute(
                sa.select(table.c.id, table.c[column]).where(
                    table.c.id.in_(wanted[start : start + _CHUNK])
                )
            ).all()
        )
    return found
