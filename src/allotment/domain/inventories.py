"""Inventories: what a provider offers of each resource class.

Every change bumps the provider's generation (compare-and-set on the
generation the caller read). Inventory of a class that has allocations
cannot be removed; shrinking it below its usage is allowed (only logged).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from allotment import exceptions
from allotment.domain import capacity as capacity_rule
from allotment.domain import provider_lookup
from allotment.domain import resource_classes
from allotment.storage import changes
from allotment.storage import tables
from allotment.storage.clock import utcnow

LOG = logging.getLogger(__name__)

INV = tables.inventories
ALLOC = tables.allocations

MAX_INT = 0x7FFFFFFF
FIELDS = (
    "total",
    "reserved",
    "min_unit",
    "max_unit",
    "step_size",
    "allocation_ratio",
)
DEFAULTS = {
    "reserved": 0,
    "min_unit": 1,
    "max_unit": MAX_INT,
    "step_size": 1,
    "allocation_ratio": 1.0,
}


def with_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """The six inventory fields of ``values``, defaults filled in, as the
    columns hold them: integers (JSON Schema lets 8.0 pass as one) and a
    float ratio."""
    record = dict(DEFAULTS)
    record.update(
        (k, float(v) if k == "allocation_ratio" else int(v))
        for k, v in values.items()
        if k in FIELDS
    )
    return record


def capacity(record: Mapping[str, Any]) -> int:
    """The capacity clients are shown for an inventory record."""
    return int(
        capacity_rule.capacity(
            record["total"], record["reserved"], record["allocation_ratio"]
        )
    )


class InvalidInventory(exceptions.BadRequest):
    """An inventory whose reserved amount leaves no capacity; ``reason``
    is the message without the operation's prefix."""

    def __init__(self, prefix: str, reason: str) -> None:
        super().__init__("%s: %s" % (prefix, reason))
        self.reason = reason


def _check_capacity(
    provider: sa.Row,
    name: str,
    record: Mapping[str, Any],
    reserved_can_be_total: bool,
    prefix: str,
) -> None:
    """400 when reserved leaves no capacity (reserved == total is allowed
    from microversion 1.26)."""
    cap = capacity(record)
    if reserved_can_be_total:
        if cap >= 0:
            return
        problem = "The reserved value is greater than total."
    else:
        if cap > 0:
            return
        problem = "The reserved value is greater than or equal to total."
    raise InvalidInventory(
        prefix,
        "Invalid inventory for '%s' on resource provider '%s'. %s"
        % (name, provider.uuid, problem),
    )


_ROWS = (
    sa.select(INV)
    .where(INV.c.resource_provider_id == sa.bindparam("provider_id"))
    .order_by(INV.c.resource_class_id)
)


def _rows(conn: sa.Connection, provider_id: int) -> Sequence[sa.Row]:
    return conn.execute(_ROWS, {"provider_id": provider_id}).all()


def list_for(conn: sa.Connection, provider: sa.Row) -> dict[str, sa.Row]:
    """{class name: row} of the provider's inventories."""
    rows = _rows(conn, provider.id)
    names = resource_classes.names_for(
        conn, [r.resource_class_id for r in rows]
    )
    return {names[r.resource_class_id]: r for r in rows}


def get(conn: sa.Connection, provider: sa.Row, name: str) -> sa.Row:
    """The inventory row of class ``name``; 404 when there is none."""
    rc_id = resource_classes.id_for(conn, name)
    row = None
    if rc_id is not None:
        row = conn.execute(
            sa.select(INV).where(
                INV.c.resource_provider_id == provider.id,
                INV.c.resource_class_id == rc_id,
            )
        ).first()
    if row is None:
        raise exceptions.NotFound(
            "No inventory of class %s for %s" % (name, provider.uuid)
        )
    return row


def _classes_in_use(
    conn: sa.Connection, provider: sa.Row, rc_ids: Collection[int]
) -> list[str]:
    """Names of the classes among ``rc_ids`` the provider has allocations
    of, in class id order."""
    if not rc_ids:
        return []
    used = conn.scalars(
        sa.select(ALLOC.c.resource_class_id)
        .where(
            ALLOC.c.resource_provider_id == provider.id,
            ALLOC.c.resource_class_id.in_(rc_ids),
        )
        .group_by(ALLOC.c.resource_class_id)
        .order_by(ALLOC.c.resource_class_id)
    ).all()
    names = resource_classes.names_for(conn, used)
    return [names[rc_id] for rc_id in used]


def _in_use_message(provider: sa.Row, names: Sequence[str]) -> str:
    return "Inventory for '%s' on resource provider '%s' in use." % (
        ", ".join(names),
        provider.uuid,
    )


def _insert(
    conn: sa.Connection,
    provider: sa.Row,
    rc_id: int,
    record: Mapping[str, Any],
) -> None:
    conn.execute(
        INV.insert().values(
            resource_provider_id=provider.id,
            resource_class_id=rc_id,
            created_at=utcnow(),
            **record,
        )
    )


def _update(
    conn: sa.Connection,
    provider: sa.Row,
    rc_id: int,
    name: str,
    record: Mapping[str, Any],
) -> bool:
    """Update one inventory; returns False when the provider has none of
    that class. Logs when the new capacity is below the current usage."""
    used = conn.scalar(
        sa.select(sa.func.sum(ALLOC.c.used)).where(
            ALLOC.c.resource_provider_id == provider.id,
            ALLOC.c.resource_class_id == rc_id,
        )
    )
    result = conn.execute(
        INV.update()
        .where(
            INV.c.resource_provider_id == provider.id,
            INV.c.resource_class_id == rc_id,
        )
        .values(updated_at=utcnow(), **record)
    )
    if result.rowcount and used is not None and used > capacity(record):
        LOG.warning(
            "Resource provider %s is now over-capacity for %s",
            provider.uuid,
            name,
        )
    return bool(result.rowcount)


def _changed(conn: sa.Connection, provider: sa.Row, expected: int) -> int:
    """Note the provider's new inventory in the change log and advance its
    generation from ``expected``; returns the new generation."""
    generation = provider_lookup.bump_generation(conn, provider.id, expected)
    changes.record(conn, [provider.id])
    return generation


def create(
    conn: sa.Connection,
    provider_uuid: str,
    name: str,
    values: Mapping[str, Any],
    reserved_can_be_total: bool,
) -> tuple[int, dict[str, Any]]:
    """Add inventory of class ``name`` (POST); returns (generation, record).

    404 for an unknown provider, 400 for an unknown class or no capacity,
    409 when the provider already has inventory of that class.
    """
    provider = provider_lookup.get(conn, provider_uuid)
    prefix = "Unable to create inventory for resource provider %s" % (
        provider.uuid
    )
    record = with_defaults(values)
    _check_capacity(provider, name, record, reserved_can_be_total, prefix)
    rc_id = resource_classes.id_for(conn, name)
    if rc_id is None:
        raise exceptions.BadRequest(
            "%s: No such resource class %s." % (prefix, name)
        )
    exists = conn.scalar(
        sa.select(INV.c.id).where(
            INV.c.resource_provider_id == provider.id,
            INV.c.resource_class_id == rc_id,
        )
    )
    if exists is not None:
        raise _duplicate(provider, name)
    try:
        with conn.begin_nested():
            _insert(conn, provider, rc_id, record)
    except sa.exc.IntegrityError:
        raise _duplicate(provider, name) from None
    return _changed(conn, provider, provider.generation), record


def _duplicate(provider: sa.Row, name: str) -> exceptions.Conflict:
    return exceptions.Conflict(
        "Update conflict: Inventory of class %s already exists on resource "
        "provider %s." % (name, provider.uuid),
        exceptions.CONCURRENT_UPDATE,
    )


def _require_generation(provider: sa.Row, generation: int) -> None:
    if generation != provider.generation:
        raise exceptions.ConcurrentUpdate(
            "resource provider generation conflict"
        )


def update(
    conn: sa.Connection,
    provider_uuid: str,
    name: str,
    values: Mapping[str, Any],
    generation: int,
    reserved_can_be_total: bool,
) -> tuple[int, dict[str, Any]]:
    """Change the inventory of class ``name`` (PUT of one inventory);
    returns (new generation, record)."""
    provider = provider_lookup.get(conn, provider_uuid)
    _require_generation(provider, generation)
    record = with_defaults(values)
    _check_capacity(
        provider,
        name,
        record,
        reserved_can_be_total,
        "Unable to update inventory for resource provider %s" % provider.uuid,
    )
    rc_id = resource_classes.id_for(conn, name)
    if rc_id is None:
        raise exceptions.NotFound("No such resource class %s." % name)
    if not _update(conn, provider, rc_id, name, record):
        raise exceptions.BadRequest(
            "No inventory record with resource class for resource provider "
            "%s: No inventory of class %s found." % (provider.uuid, name)
        )
    return _changed(conn, provider, generation), record


def replace_all(
    conn: sa.Connection,
    provider_uuid: str,
    generation: int,
    inventories: Mapping[str, Mapping[str, Any]],
    reserved_can_be_total: bool,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Make ``inventories`` ({class name: values}) the whole inventory of
    the provider ``provider_uuid`` (PUT); returns (new generation, {class
    name: record})."""
    return replace_provider(
        conn,
        provider_lookup.get(conn, provider_uuid),
        generation,
        inventories,
        reserved_can_be_total,
    )


def replace_provider(
    conn: sa.Connection,
    provider: sa.Row,
    generation: int,
    inventories: Mapping[str, Mapping[str, Any]],
    reserved_can_be_total: bool,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """``replace_all`` for a provider row already read in this
    transaction."""
    _require_generation(provider, generation)
    records = {
        name: with_defaults(values) for name, values in inventories.items()
    }
    for name, record in records.items():
        _check_capacity(
            provider,
            name,
            record,
            reserved_can_be_total,
            "Unable to update inventory for resource provider %s"
            % provider.uuid,
        )
    ids = resource_classes.ids_for(conn, list(records))
    unknown = [name for name in records if name not in ids]
    if unknown:
        raise exceptions.BadRequest(
            "Unknown resource class in inventory for resource provider %s: "
            "No such resource class %s." % (provider.uuid, unknown[0])
        )
    current = {r.resource_class_id for r in _rows(conn, provider.id)}
    wanted = {ids[name]: name for name in records}
    to_delete = current - set(wanted)
    in_use = _classes_in_use(conn, provider, to_delete)
    if in_use:
        raise exceptions.Conflict(
            "update conflict: " + _in_use_message(provider, in_use),
            exceptions.INVENTORY_INUSE,
        )
    if to_delete:
        conn.execute(
            INV.delete().where(
                INV.c.resource_provider_id == provider.id,
                INV.c.resource_class_id.in_(to_delete),
            )
        )
    for rc_id, name in wanted.items():
        if rc_id in current:
            if not _update(conn, provider, rc_id, name, records[name]):
                raise exceptions.ConcurrentUpdate()
        else:
            try:
                with conn.begin_nested():
                    _insert(conn, provider, rc_id, records[name])
            except sa.exc.IntegrityError:
                raise exceptions.ConcurrentUpdate() from None
    return _changed(conn, provider, generation), records


def delete_all(conn: sa.Connection, provider_uuid: str) -> None:
    """Remove all the provider's inventory (DELETE, from 1.5)."""
    provider = provider_lookup.get(conn, provider_uuid)
    current = [r.resource_class_id for r in _rows(conn, provider.id)]
    in_use = _classes_in_use(conn, provider, current)
    if in_use:
        raise exceptions.Conflict(
            _in_use_message(provider, in_use), exceptions.INVENTORY_INUSE
        )
    conn.execute(INV.delete().where(INV.c.resource_provider_id == provider.id))
    _changed(conn, provider, provider.generation)


def delete(conn: sa.Connection, provider_uuid: str, name: str) -> None:
    """Remove the inventory of class ``name``: 404 when there is none, 409
    when it has allocations."""
    provider = provider_lookup.get(conn, provider_uuid)
    not_found = "No inventory of class %s found for delete: " % name
    rc_id = resource_classes.id_for(conn, name)
    if rc_id is None:
        raise exceptions.NotFound(
            not_found + "No such resource class %s." % name
        )
    if _classes_in_use(conn, provider, [rc_id]):
        raise exceptions.Conflict(
            "Unable to delete inventory of class %s: %s"
            % (name, _in_use_message(provider, [name])),
            exceptions.CONCURRENT_UPDATE,
        )
    result = conn.execute(
        INV.delete().where(
            INV.c.resource_provider_id == provider.id,
            INV.c.resource_class_id == rc_id,
        )
    )
    if not result.rowcount:
        raise exceptions.NotFound(
            not_found + "No inventory of class %s found for delete" % name
        )
    _changed(conn, provider, provider.generation)
