"""The capacity rule, the one place it is written down.

An inventory's capacity is ``(total - reserved) * allocation_ratio``, a
float compared as is (clients see ``int(capacity)``), as the reference
computes it. An amount fits an inventory already holding ``used`` when
``min_unit <= amount <= max_unit``, ``amount`` is a multiple of
``step_size`` and ``used + amount <= capacity``.

The pure functions serve Python callers (the provider snapshot of the
candidates engine and the provider list, through ``headroom``; the
allocation claim check in domain/allocations.py, inventory checks in
domain/inventories.py); ``sql_fits`` is the same rule as an SQL condition
on the inventories table, for the SQL of GET /resource_providers?resources=
(domain/providers.py, which answers where the snapshot cannot). MySQL
stores allocation_ratio as a 4-byte FLOAT, so SQL arithmetic there works
with its nearest float32 (0.7 as 0.699999988...), where Python has the
value the driver returns.
tests/functional/test_capacity_rule.py runs one table of edge cases
through all three API paths.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from allotment.storage import tables

INV = tables.inventories


def capacity(total: int, reserved: int, allocation_ratio: float) -> float:
    """What an inventory may hold in all."""
    return (total - reserved) * allocation_ratio


def within_units(
    amount: int, min_unit: int, max_unit: int, step_size: int
) -> bool:
    """True when one allocation of ``amount`` respects the unit limits."""
    return min_unit <= amount <= max_unit and amount % step_size == 0


def unit_rule_broken(
    amount: int, min_unit: int, max_unit: int, step_size: int
) -> str | None:
    """The first unit limit one allocation of ``amount`` breaks, by its
    API name (``min_unit``, ``max_unit``, ``step_size``); None when
    ``within_units`` holds."""
    if amount < min_unit:
        return "min_unit"
    if amount > max_unit:
        return "max_unit"
    if amount % step_size:
        return "step_size"
    return None


def free(capacity_: float, used: int) -> int:
    """The most one allocation may take from the inventory before its
    max_unit: ``used + amount <= capacity`` for whole amounts is ``amount
    <= int(capacity) - used``."""
    return int(capacity_) - used


def claims(
    amount: int,
    capacity_: float,
    used: int,
    min_unit: int,
    max_unit: int,
    step_size: int,
) -> int:
    """How many allocations of ``amount`` still fit the inventory, made
    one after another (each checked by ``fits``)."""
    if amount <= 0 or not within_units(amount, min_unit, max_unit, step_size):
        return 0
    return max(free(capacity_, used) // amount, 0)


def has_room(amount: int, capacity_: float, used: int) -> bool:
    """True when ``amount`` more still fits ``capacity_`` over ``used``."""
    return used + amount <= capacity_


def fits(
    amount: int,
    capacity_: float,
    used: int,
    min_unit: int,
    max_unit: int,
    step_size: int,
) -> bool:
    """The whole rule: ``amount`` may be allocated from the inventory."""
    return within_units(amount, min_unit, max_unit, step_size) and has_room(
        amount, capacity_, used
    )


def headroom(capacity_: float, used: int, max_unit: int) -> int:
    """The most one allocation may still take from the inventory: an
    amount fits exactly when ``within_units`` holds and it is at most this
    (``free`` capped by max_unit). The provider snapshot stores it per
    inventory and compares against it (``candidates/snapshot.py``)."""
    return min(free(capacity_, used), max_unit)


def sql_capacity(inv: sa.Table = INV) -> sa.ColumnElement[Any]:
    """``capacity`` over the inventories table (or an alias of it)."""
    return (inv.c.total - inv.c.reserved) * inv.c.allocation_ratio


def sql_fits(
    amount: Any, used: sa.ColumnElement[Any], inv: sa.Table = INV
) -> sa.ColumnElement[bool]:
    """``fits`` as an SQL condition on an inventory row; ``used`` is an
    SQL expression of its current usage; ``amount`` an int or a bound
    parameter."""
    value = (
        amount if isinstance(amount, sa.BindParameter) else sa.literal(amount)
    )
    return sa.and_(
        inv.c.min_unit <= amount,
        inv.c.max_unit >= amount,
        value % inv.c.step_size == 0,
        used + amount <= sql_capacity(inv),
    )
