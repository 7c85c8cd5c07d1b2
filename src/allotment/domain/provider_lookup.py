"""Finding providers by UUID and guarding their generation.

Every write that changes a provider (inventory, traits, aggregates,
allocations) bumps its generation with ``bump_generation``: a compare-and-set
that fails with 409 placement.concurrent_update when another writer got
there first.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from allotment import exceptions
from allotment.storage import tables
from allotment.storage.clock import utcnow

RP = tables.resource_providers

# Built once: constructing a statement costs more than running it here.
_FIND = sa.select(RP).where(RP.c.uuid == sa.bindparam("uuid"))


def find(conn: sa.Connection, uuid: str) -> sa.Row | None:
    """The provider row with ``uuid``, or None."""
    return conn.execute(_FIND, {"uuid": uuid}).first()


def not_found(
    uuid: str, code: str = exceptions.DEFAULT
) -> exceptions.NotFound:
    """The 404 for a missing provider (the reference's code is the default
    one everywhere but the reshaper)."""
    return exceptions.NotFound(
        "No resource provider with uuid %s found" % uuid, code
    )


def get(conn: sa.Connection, uuid: str) -> sa.Row:
    """The provider row with ``uuid``; 404 when there is none."""
    row = find(conn, uuid)
    if row is None:
        raise not_found(uuid)
    return row


def bump_generation(
    conn: sa.Connection, provider_id: int, expected: int
) -> int:
    """Advance a provider's generation from ``expected``; 409 when it moved.

    Returns the new generation.
    """
    result = conn.execute(
        RP.update()
        .where(RP.c.id == provider_id, RP.c.generation == expected)
        .values(generation=expected + 1, updated_at=utcnow())
    )
    if result.rowcount != 1:
        raise exceptions.ConcurrentUpdate(
            "resource provider generation conflict"
        )
    return expected + 1


def names_of(conn: sa.Connection, ids: Collection[int]) -> dict[int, str]:
    """id -> name of the providers ``ids`` (those that still exist)."""
    if not ids:
        return {}
    found = conn.execute(
        sa.select(RP.c.id, RP.c.name).where(RP.c.id.in_(list(ids)))
    )
    return dict(found.all())
