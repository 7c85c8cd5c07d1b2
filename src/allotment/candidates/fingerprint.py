"""A cheap fingerprint of what the provider snapshot holds, computed two
ways: from a snapshot version in Python and from the database in SQL.

Equal fingerprints mean the snapshot holds what the database does; a
difference names the part that differs (a write that bypassed the change
log: an operator's SQL, the reference service during a switch). Each part
is a row count and a sum of a small integer hash of each row's values
(modulo a prime, so no sum overflows), computed the same way on both sides:

- providers: id, root, parent;
- inventories, per allocation ratio (a float is compared as the driver
  returns it, never through SQL arithmetic): provider, class, total,
  reserved, min_unit, max_unit, step_size;
- usage: the sum of ``used`` and of ``used`` weighted by a hash of
  (provider, class), over allocations of inventories that exist;
- traits and aggregates: (provider, trait or aggregate) pairs;
- shown: what the provider list shows of a provider besides (uuid, name,
  generation, when it last changed, whether its root is NULL). No SQL
  function hashes text on every backend, so these columns are read and
  hashed here (Python's ``hash``, the same on both sides of one check):
  one row per provider every check interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import Any

import sqlalchemy as sa

from allotment.storage import clock
from allotment.storage import tables

if TYPE_CHECKING:
    from allotment.candidates.snapshot import Version

RP = tables.resource_providers
INV = tables.inventories
ALLOC = tables.allocations
RPT = tables.resource_provider_traits
RPA = tables.resource_provider_aggregates

_P = 1000003
_W = 1009


def _pair(a: int, b: int) -> int:
    return (a * 7 + b * 11) % _P


def _shown(rows: Iterable[tuple[Any, ...]]) -> tuple[int, int]:
    """(count, sum of hashes) of (id, uuid, name, generation, modified,
    rootless) rows."""
    count = total = 0
    for row in rows:
        count += 1
        total += hash(row) % _P
    return count, total


def _inventory(
    rp: int,
    rc: int,
    total: int,
    reserved: int,
    min_unit: int,
    max_unit: int,
    step: int,
) -> int:
    return (
        rp * 7
        + rc * 11
        + total * 13
        + reserved * 17
        + min_unit * 19
        + max_unit * 23
        + step * 29
    ) % _P


def of_version(version: Version) -> dict[str, Any]:
    """The fingerprint of a snapshot ``Version``."""
    ids = version.ids
    providers = [0, 0]
    inventories: dict[float, list[int]] = {}
    usage = [0, 0]
    traits = [0, 0]
    for row in version.rows():
        rp_id = ids[row]
        parent = version.parent_of[row]
        providers[0] += 1
        providers[1] += (
            rp_id * 7
            + ids[version.root_of[row]] * 11
            + (0 if parent is None else ids[parent]) * 13
        ) % _P
        for rc_id, r in version.inventory(row).items():
            entry = inventories.setdefault(r.ratio, [0, 0])
            entry[0] += 1
            entry[1] += _inventory(
                rp_id,
                rc_id,
                r.total,
                r.reserved,
                r.min_unit,
                r.max_unit,
                r.step,
            )
            usage[0] += r.used
            usage[1] += r.used * ((rp_id * 7 + rc_id * 11) % _W)
        held = version.traits_of[row]
        traits[0] += len(held)
        traits[1] += sum(_pair(rp_id, t) for t in held)
    aggregates = [0, 0]
    for agg_id, members in version.by_agg.items():
        aggregates[0] += len(members)
        aggregates[1] += sum(_pair(ids[row], agg_id) for row in members)
    rootless = version.rootless
    shown = _shown(
        (
            ids[row],
            version.uuid_of[row],
            version.name_of[row],
            version.generation_of[row],
            version.modified_of[row],
            row in rootless,
        )
        for row in version.rows()
    )
    return {
        "providers": tuple(providers),
        "inventories": {k: tuple(v) for k, v in inventories.items()},
        "usage": tuple(usage),
        "traits": tuple(traits),
        "aggregates": tuple(aggregates),
        "shown": shown,
    }


def _big(column: sa.ColumnElement[Any]) -> sa.Cast[int]:
    """``column`` as a 64-bit integer (PostgreSQL computes in the type of
    its operands: 2147483647 * 23 would overflow an INTEGER)."""
    return sa.cast(column, sa.BigInteger)


def _count_and_sum(
    conn: sa.Connection, table: sa.Table, expr: sa.ColumnElement[Any]
) -> tuple[int, int]:
    count, total = conn.execute(
        sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(expr), 0)
        ).select_from(table)
    ).one()
    return int(count), int(total)


def of_database(conn: sa.Connection) -> dict[str, Any]:
    """The fingerprint of what the database holds (call in a consistent
    read, together with the refresh it is compared with)."""
    c = INV.c
    inventories = {
        ratio: (int(count), int(total))
        for ratio, count, total in conn.execute(
            sa.select(
                c.allocation_ratio,
                sa.func.count(),
                sa.func.sum(
                    (
                        _big(c.resource_provider_id) * 7
                        + _big(c.resource_class_id) * 11
                        + _big(c.total) * 13
                        + _big(c.reserved) * 17
                        + _big(c.min_unit) * 19
                        + _big(c.max_unit) * 23
                        + _big(c.step_size) * 29
                    )
                    % _P
                ),
            ).group_by(c.allocation_ratio)
        )
    }
    a = ALLOC.c
    held = ALLOC.join(
        INV,
        sa.and_(
            c.resource_provider_id == a.resource_provider_id,
            c.resource_class_id == a.resource_class_id,
        ),
    )
    used, weighted = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(_big(a.used)), 0),
            sa.func.coalesce(
                sa.func.sum(
                    _big(a.used)
                    * (
                        (a.resource_provider_id * 7 + a.resource_class_id * 11)
                        % _W
                    )
                ),
                0,
            ),
        ).select_from(held)
    ).one()
    return {
        "providers": _count_and_sum(
            conn,
            RP,
            (
                _big(RP.c.id) * 7
                + _big(sa.func.coalesce(RP.c.root_provider_id, RP.c.id)) * 11
                + _big(sa.func.coalesce(RP.c.parent_provider_id, 0)) * 13
            )
            % _P,
        ),
        "inventories": inventories,
        "usage": (int(used), int(weighted)),
        "traits": _count_and_sum(
            conn,
            RPT,
            (RPT.c.resource_provider_id * 7 + RPT.c.trait_id * 11) % _P,
        ),
        "aggregates": _count_and_sum(
            conn,
            RPA,
            (RPA.c.resource_provider_id * 7 + RPA.c.aggregate_id * 11) % _P,
        ),
        "shown": _shown_in_database(conn),
    }


def _shown_in_database(conn: sa.Connection) -> tuple[int, int]:
    found = conn.execute(
        sa.select(
            RP.c.id,
            RP.c.uuid,
            RP.c.name,
            RP.c.generation,
            RP.c.created_at,
            RP.c.updated_at,
            RP.c.root_provider_id,
        )
    )
    modified = clock.modified
    return _shown(
        (
            rp_id,
            uuid,
            name,
            generation,
            modified(created, updated),
            root is None,
        )
        for rp_id, uuid, name, generation, created, updated, root in found
    )


def compare(held: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Lines naming each part where the snapshot (``held``) and the
    database (``stored``) differ; empty when they agree."""
    lines = []
    for part in held:
        mine, theirs = held[part], stored[part]
        if mine == theirs:
            continue
        if part == "inventories":
            mine = (
                sum(n for n, _h in mine.values()),
                sum(h for _n, h in mine.values()),
            )
            theirs = (
                sum(n for n, _h in theirs.values()),
                sum(h for _n, h in theirs.values()),
            )
            if mine == theirs:
                lines.append("inventories: allocation ratios differ")
                continue
        if part == "usage":
            lines.append(
                "usage: %d used in the snapshot, %d in the database"
                % (mine[0], theirs[0])
            )
        elif mine[0] != theirs[0]:
            lines.append(
                "%s: %d rows in the snapshot, %d in the database"
                % (part, mine[0], theirs[0])
            )
        else:
            lines.append(
                "%s: %d rows each, with different values" % (part, mine[0])
            )
    return lines
