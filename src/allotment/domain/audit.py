"""The audit: states of the placement tables no API write leaves behind.

``find`` reads the database and answers ``Finding``s, each naming one
consumer or provider by uuid, saying what is wrong and how to fix it:

- ``consumer_without_allocations``: a consumer row left when its
  allocations were removed by hand (the API deletes such consumers);
- ``allocation_without_inventory``: allocations on a provider that has no
  inventory of the class, or that no longer exists;
- ``usage_above_capacity``: an inventory holding more than its capacity
  (``domain/capacity.py``), as after an inventory was shrunk by hand;
- ``provider_without_root``: a provider whose ``root_provider_id`` is NULL;
- ``consumer_on_several_trees``: a consumer holding allocations in more
  than one provider tree, sharing providers (``MISC_SHARES_VIA_AGGREGATE``)
  apart: the trace of a failed migration or evacuation;
- ``allocation_of_dead_consumer``: with a list of the consumers that still
  exist (from nova), allocations of any other consumer.

``repair`` fixes the safe cases in the caller's write transaction (run it
with ``Database.run_write``, which publishes the provider changes it
records for the candidates snapshot): it deletes consumers that still hold
no allocations and sets the roots it can derive (a provider without a
parent is its own root; otherwise its parent's root). Everything else
carries the commands an operator runs to fix it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Collection
from collections.abc import Iterable
from typing import Any

import os_traits
import sqlalchemy as sa

from allotment.domain import capacity
from allotment.domain import inventories
from allotment.storage import changes
from allotment.storage import tables

ALLOC = tables.allocations
INV = tables.inventories
RP = tables.resource_providers
RC = tables.resource_classes
CONSUMERS = tables.consumers
RPT = tables.resource_provider_traits
TRAITS = tables.traits

EMPTY_CONSUMER = "consumer_without_allocations"
NO_INVENTORY = "allocation_without_inventory"
OVER_CAPACITY = "usage_above_capacity"
NO_ROOT = "provider_without_root"
SEVERAL_TREES = "consumer_on_several_trees"
DEAD_CONSUMER = "allocation_of_dead_consumer"

# In the order reports list them.
KINDS = (
    EMPTY_CONSUMER,
    NO_INVENTORY,
    OVER_CAPACITY,
    NO_ROOT,
    SEVERAL_TREES,
    DEAD_CONSUMER,
)

_ALLOCATION_DELETE = "openstack resource provider allocation delete %s"
# A provider uuid no consumer holds anything on (the nil uuid).
NO_PROVIDER = "00000000-0000-0000-0000-000000000000"
_ALLOCATION_UNSET = "openstack resource provider allocation unset %s%s"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` (one of KINDS), the ``subject`` it is about
    ("consumer" or "provider") and its ``uuid``, a sentence of ``detail``,
    the ``commands`` that fix it (alternatives, one line each) and whether
    ``repair`` (``allotment audit --fix``) fixes it."""

    kind: str
    subject: str
    uuid: str
    detail: str
    commands: tuple[str, ...] = ()
    repairable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            self.subject: self.uuid,
            "detail": self.detail,
            "fix": list(self.commands),
            "repairable": self.repairable,
        }


def find(
    conn: sa.Connection, live_consumers: Collection[str] | None = None
) -> list[Finding]:
    """Every finding, grouped by kind in KINDS order, each group by uuid.
    ``live_consumers``: the uuids of the consumers that still exist
    (compared case-insensitively), or None to skip that check."""
    found = (
        _empty_consumers(conn)
        + _without_inventory(conn)
        + _above_capacity(conn)
        + _without_root(conn)
        + _on_several_trees(conn)
    )
    if live_consumers is not None:
        found += _dead_consumers(conn, live_consumers)
    return found


# Finding ---------------------------------------------------------------


def _no_allocations() -> sa.ColumnElement[bool]:
    return ~sa.exists().where(ALLOC.c.consumer_id == CONSUMERS.c.uuid)


def _empty_consumers(conn: sa.Connection) -> list[Finding]:
    rows = conn.execute(
        sa.select(CONSUMERS.c.uuid, CONSUMERS.c.generation)
        .where(_no_allocations())
        .order_by(CONSUMERS.c.uuid)
    ).all()
    return [
        Finding(
            EMPTY_CONSUMER,
            "consumer",
            row.uuid,
            "consumer %s (generation %d) holds no allocations"
            % (row.uuid, row.generation),
            ("allotment audit --fix",),
            repairable=True,
        )
        for row in rows
    ]


def _provider_text(uuid: str | None, name: str | None, rp_id: int) -> str:
    if uuid is None:
        return "provider id %d, which no longer exists" % rp_id
    return "provider %s (%s)" % (uuid, name)


def _class_text(name: str | None, rc_id: int) -> str:
    return name if name is not None else "class id %d" % rc_id


def _without_inventory(conn: sa.Connection) -> list[Finding]:
    rows = conn.execute(
        sa.select(
            ALLOC.c.consumer_id,
            ALLOC.c.resource_provider_id,
            ALLOC.c.resource_class_id,
            RP.c.uuid,
            RP.c.name,
            RC.c.name.label("rc_name"),
            sa.func.sum(ALLOC.c.used).label("used"),
        )
        .select_from(
            ALLOC.outerjoin(
                INV,
                sa.and_(
                    INV.c.resource_provider_id == ALLOC.c.resource_provider_id,
                    INV.c.resource_class_id == ALLOC.c.resource_class_id,
                ),
            )
            .outerjoin(RP, RP.c.id == ALLOC.c.resource_provider_id)
            .outerjoin(RC, RC.c.id == ALLOC.c.resource_class_id)
        )
        .where(INV.c.id.is_(None))
        .group_by(
            ALLOC.c.consumer_id,
            ALLOC.c.resource_provider_id,
            ALLOC.c.resource_class_id,
            RP.c.uuid,
            RP.c.name,
            RC.c.name,
        )
        .order_by(
            ALLOC.c.consumer_id,
            ALLOC.c.resource_provider_id,
            ALLOC.c.resource_class_id,
        )
    ).all()
    # Consumers of allocations on deleted providers that also hold some on
    # providers that exist: the API shows them only those.
    shown = set(
        conn.scalars(
            sa.select(ALLOC.c.consumer_id)
            .select_from(
                ALLOC.join(RP, RP.c.id == ALLOC.c.resource_provider_id)
            )
            .where(
                ALLOC.c.consumer_id.in_(
                    {row.consumer_id for row in rows if row.uuid is None}
                )
            )
            .distinct()
        )
    )
    result = []
    for row in rows:
        rc = _class_text(row.rc_name, row.resource_class_id)
        where = _provider_text(row.uuid, row.name, row.resource_provider_id)
        if row.uuid is None and row.consumer_id in shown:
            detail = (
                "consumer %s holds %d %s on %s; re-writing its "
                "allocations as the API shows them (unset on a provider "
                "it holds nothing on) drops them and keeps the others"
                % (row.consumer_id, row.used, rc, where)
            )
            command = _ALLOCATION_UNSET % (
                "--provider %s " % NO_PROVIDER,
                row.consumer_id,
            )
        elif row.uuid is None:
            detail = "consumer %s holds %d %s on %s, and nothing else" % (
                row.consumer_id,
                row.used,
                rc,
                where,
            )
            command = _ALLOCATION_DELETE % row.consumer_id
        else:
            detail = "consumer %s holds %d %s on %s, which has no %s " % (
                row.consumer_id,
                row.used,
                rc,
                where,
                rc,
            ) + ("inventory" if row.rc_name else "(no such class)")
            command = _ALLOCATION_UNSET % (
                "--provider %s " % row.uuid
                + (
                    "--resource-class %s " % row.rc_name if row.rc_name else ""
                ),
                row.consumer_id,
            )
        result.append(
            Finding(
                NO_INVENTORY, "consumer", row.consumer_id, detail, (command,)
            )
        )
    return result


def _number(value: float) -> str:
    """A capacity for a reader: 16 when whole, else 4.5."""
    return "%d" % value if value == int(value) else "%s" % value


def inventory_for(
    used: int, reserved: int, allocation_ratio: float
) -> tuple[int, float]:
    """``(total, allocation_ratio)`` of the smallest inventory holding
    ``used``: the same ratio with a larger total, or where no total an
    inventory may have would do (a ratio of 0 or below, or one so small
    that the total passes the largest the API takes), a ratio of 1."""
    if allocation_ratio > 0:
        needed = used / allocation_ratio
        if reserved + needed <= inventories.MAX_INT:
            total = reserved + math.ceil(needed)
            # (a rounding step or two at most: integers below 2**31 are
            # exact as floats)
            while capacity.capacity(total, reserved, allocation_ratio) < used:
                total += 1
            if total <= inventories.MAX_INT:
                return total, allocation_ratio
    return reserved + used, 1.0


def _above_capacity(conn: sa.Connection) -> list[Finding]:
    usage = (
        sa.select(
            ALLOC.c.resource_provider_id,
            ALLOC.c.resource_class_id,
            sa.func.sum(ALLOC.c.used).label("used"),
        )
        .group_by(ALLOC.c.resource_provider_id, ALLOC.c.resource_class_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            RP.c.uuid,
            RP.c.name,
            RC.c.name.label("rc_name"),
            INV.c.resource_class_id,
            INV.c.total,
            INV.c.reserved,
            INV.c.min_unit,
            INV.c.max_unit,
            INV.c.step_size,
            INV.c.allocation_ratio,
            usage.c.used,
        )
        .select_from(
            INV.join(
                usage,
                sa.and_(
                    usage.c.resource_provider_id == INV.c.resource_provider_id,
                    usage.c.resource_class_id == INV.c.resource_class_id,
                ),
            )
            .join(RP, RP.c.id == INV.c.resource_provider_id)
            .outerjoin(RC, RC.c.id == INV.c.resource_class_id)
        )
        .order_by(RP.c.uuid, INV.c.resource_class_id)
    ).all()
    result = []
    for row in rows:
        used = int(row.used)
        held = capacity.capacity(row.total, row.reserved, row.allocation_ratio)
        if used <= held:
            continue
        rc = _class_text(row.rc_name, row.resource_class_id)
        total, ratio = inventory_for(used, row.reserved, row.allocation_ratio)
        command = (
            "openstack resource provider inventory class set %s %s "
            "--total %d --reserved %d --allocation_ratio %s --min_unit %d "
            "--max_unit %d --step_size %d"
            % (
                row.uuid,
                rc,
                total,
                row.reserved,
                ratio,
                row.min_unit,
                row.max_unit,
                row.step_size,
            )
        )
        result.append(
            Finding(
                OVER_CAPACITY,
                "provider",
                row.uuid,
                "provider %s (%s) has %d %s allocated, above its capacity "
                "%s ((total %d - reserved %d) * allocation_ratio %s); "
                "raise the inventory, or move consumers away (openstack "
                "resource provider show --allocations %s)"
                % (
                    row.uuid,
                    row.name,
                    used,
                    rc,
                    _number(held),
                    row.total,
                    row.reserved,
                    row.allocation_ratio,
                    row.uuid,
                ),
                (command,),
            )
        )
    return result


def _derived_roots(conn: sa.Connection) -> tuple[dict[int, int], list[int]]:
    """``(roots, stuck)`` for the providers whose root is NULL: provider id
    -> the root derived from its parents, and the ids of those whose
    ancestry loops (no root can be derived)."""
    links = {
        row.id: (row.parent_provider_id, row.root_provider_id)
        for row in conn.execute(
            sa.select(RP.c.id, RP.c.parent_provider_id, RP.c.root_provider_id)
        )
    }
    roots: dict[int, int] = {}
    stuck: list[int] = []
    for rp_id in sorted(i for i, (_p, root) in links.items() if root is None):
        seen = []
        current = rp_id
        while True:
            parent, root = links[current]
            if root is not None or current in roots:
                root = root if root is not None else roots[current]
                break
            if parent is None:
                root = current
                break
            if current in seen:
                root = None
                break
            seen.append(current)
            current = parent
        if root is None:
            stuck.append(rp_id)
        else:
            roots.update((i, root) for i in [*seen, rp_id])
    return roots, stuck


def _without_root(conn: sa.Connection) -> list[Finding]:
    roots, stuck = _derived_roots(conn)
    ids = set(roots) | set(stuck)
    if not ids:
        return []
    uuids = dict(
        conn.execute(
            sa.select(RP.c.id, RP.c.uuid).where(
                RP.c.id.in_(ids | set(roots.values()))
            )
        ).all()
    )
    result = []
    for rp_id in ids:
        uuid = uuids[rp_id]
        if rp_id in roots:
            root = roots[rp_id]
            derived = (
                "itself (it has no parent)"
                if root == rp_id
                else "%s, its parent's" % uuids[root]
            )
            finding = Finding(
                NO_ROOT,
                "provider",
                uuid,
                "provider %s has no root provider; its root is %s"
                % (uuid, derived),
                ("allotment audit --fix",),
                repairable=True,
            )
        else:
            finding = Finding(
                NO_ROOT,
                "provider",
                uuid,
                "provider %s has no root provider and its parents form "
                "a loop: set parent_provider_id and root_provider_id by "
                "hand, then run allotment snapshot reload" % uuid,
            )
        result.append(finding)
    return sorted(result, key=lambda f: f.uuid)


def _on_several_trees(conn: sa.Connection) -> list[Finding]:
    root_of = sa.func.coalesce(RP.c.root_provider_id, RP.c.id)
    sharing = sa.exists().where(
        RPT.c.resource_provider_id == RP.c.id,
        RPT.c.trait_id == TRAITS.c.id,
        TRAITS.c.name == os_traits.MISC_SHARES_VIA_AGGREGATE,
    )
    placed = (
        sa.select(
            ALLOC.c.consumer_id, RP.c.uuid, RP.c.name, root_of.label("root")
        )
        .select_from(ALLOC.join(RP, RP.c.id == ALLOC.c.resource_provider_id))
        .where(~sharing)
        .distinct()
        .subquery()
    )
    spread = (
        sa.select(placed.c.consumer_id)
        .group_by(placed.c.consumer_id)
        .having(sa.func.count(sa.distinct(placed.c.root)) > 1)
    )
    root = RP.alias("root")
    rows = conn.execute(
        sa.select(
            placed.c.consumer_id,
            placed.c.uuid,
            placed.c.name,
            root.c.uuid.label("root_uuid"),
            root.c.name.label("root_name"),
        )
        .select_from(placed.join(root, root.c.id == placed.c.root))
        .where(placed.c.consumer_id.in_(spread))
        .order_by(placed.c.consumer_id, root.c.uuid, placed.c.uuid)
    ).all()
    # consumer -> root uuid -> the providers of that tree it is on
    trees: dict[str, dict[str, list[sa.Row]]] = defaultdict(dict)
    for row in rows:
        trees[row.consumer_id].setdefault(row.root_uuid, []).append(row)
    result = []
    for consumer, by_root in trees.items():
        described = " and ".join(
            "%s (%s)%s"
            % (
                r,
                providers[0].root_name,
                ""
                if [p.uuid for p in providers] == [r]
                else " through %s" % ", ".join(p.name for p in providers),
            )
            for r, providers in by_root.items()
        )
        commands = tuple(
            _ALLOCATION_UNSET
            % (
                "".join(
                    "--provider %s " % p.uuid
                    for other, providers in by_root.items()
                    if other != keep
                    for p in providers
                ),
                consumer,
            )
            for keep in by_root
        )
        result.append(
            Finding(
                SEVERAL_TREES,
                "consumer",
                consumer,
                "consumer %s holds allocations in %d provider trees, "
                "rooted at %s; keep the tree it runs in and unset the "
                "others (one command per tree kept)"
                % (consumer, len(by_root), described),
                commands,
            )
        )
    return result


def _dead_consumers(
    conn: sa.Connection, live_consumers: Iterable[str]
) -> list[Finding]:
    live = {uuid.strip().lower() for uuid in live_consumers}
    rows = conn.execute(
        sa.select(
            ALLOC.c.consumer_id,
            sa.func.count(sa.distinct(ALLOC.c.resource_provider_id)),
        )
        .group_by(ALLOC.c.consumer_id)
        .order_by(ALLOC.c.consumer_id)
    ).all()
    return [
        Finding(
            DEAD_CONSUMER,
            "consumer",
            consumer,
            "consumer %s holds allocations on %d provider(s) but is not "
            "in the list of live consumers" % (consumer, providers),
            (_ALLOCATION_DELETE % consumer,),
        )
        for consumer, providers in rows
        if consumer.lower() not in live
    ]


# Repairing -------------------------------------------------------------


def repair(conn: sa.Connection) -> list[str]:
    """Fix the repairable findings as they stand in ``conn``'s write
    transaction; answers a line per change made."""
    done = []
    empty = conn.execute(
        sa.select(CONSUMERS.c.id, CONSUMERS.c.uuid)
        .where(_no_allocations())
        .order_by(CONSUMERS.c.uuid)
    ).all()
    for consumer in empty:
        # The condition again: a consumer that gained allocations since
        # it was read stays.
        deleted = conn.execute(
            CONSUMERS.delete().where(
                CONSUMERS.c.id == consumer.id, _no_allocations()
            )
        ).rowcount
        if deleted:
            done.append(
                "deleted consumer %s (it held no allocations)" % consumer.uuid
            )
    roots, _stuck = _derived_roots(conn)
    if roots:
        uuids = dict(
            conn.execute(
                sa.select(RP.c.id, RP.c.uuid).where(
                    RP.c.id.in_(set(roots) | set(roots.values()))
                )
            ).all()
        )
        by_root: dict[int, list[int]] = defaultdict(list)
        for rp_id, root in roots.items():
            by_root[root].append(rp_id)
        for root, ids in sorted(by_root.items()):
            conn.execute(
                RP.update()
                .where(RP.c.id.in_(ids), RP.c.root_provider_id.is_(None))
                .values(root_provider_id=root)
            )
            done += [
                "set the root of provider %s to %s"
                % (uuids[i], "itself" if i == root else uuids[root])
                for i in sorted(ids, key=uuids.__getitem__)
            ]
        changes.record(conn, roots)
    return done
