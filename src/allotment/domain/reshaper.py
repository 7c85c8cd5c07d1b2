"""The reshaper: replace the inventories of several providers and the
allocations of several consumers in one transaction.

Inventory cannot be removed while allocated, and allocations cannot land on
inventory that does not exist yet, so the change runs in three steps inside
the caller's transaction: each provider first gets the union of its current
and its new inventory, then the allocations are replaced (with the usual
capacity checks), then each provider gets exactly its new inventory. Every
step bumps the generations of the providers it changes; any failure rolls
the whole transaction back.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from allotment import exceptions
from allotment.domain import allocations
from allotment.domain import inventories as inventory_domain
from allotment.domain import provider_lookup
from allotment.domain import resource_classes

if TYPE_CHECKING:
    from allotment.storage.engine import Database

# provider uuid -> {resource_provider_generation, inventories}
NewInventories = Mapping[str, Mapping[str, Any]]


class UnknownClass(exceptions.BadRequest):
    """An inventory names a resource class that does not exist."""


def _providers(
    conn: sa.Connection, new_inventories: NewInventories
) -> dict[str, sa.Row]:
    """uuid -> provider row for every provider given inventory, checking
    that it exists and that the client saw its current generation."""
    providers = {}
    for rp_uuid, data in new_inventories.items():
        provider = provider_lookup.find(conn, rp_uuid)
        if provider is None:
            raise exceptions.BadRequest(
                "Resource provider %s in inventories not found: No resource "
                "provider with uuid %s found" % (rp_uuid, rp_uuid),
                exceptions.RESOURCE_PROVIDER_NOT_FOUND,
            )
        given = data["resource_provider_generation"]
        if given != provider.generation:
            raise exceptions.Conflict(
                "resource provider generation conflict for provider %s: "
                "actual: %s, given: %s"
                % (rp_uuid, provider.generation, given),
                exceptions.CONCURRENT_UPDATE,
            )
        providers[rp_uuid] = provider
    return providers


def _check_classes(
    conn: sa.Connection, new_inventories: NewInventories
) -> None:
    names = list(
        dict.fromkeys(
            name
            for data in new_inventories.values()
            for name in data["inventories"]
        )
    )
    known = resource_classes.ids_for(conn, names)
    for name in names:
        if name not in known:
            raise UnknownClass("No such resource class %s." % name)


def reshape(
    conn: sa.Connection,
    new_inventories: NewInventories,
    requests: Sequence[allocations.Request],
) -> None:
    """Apply ``new_inventories`` (provider uuid -> {resource_provider_
    generation, inventories: {class: fields}}) and ``requests`` (a list of
    allocations.Request) in the caller's transaction."""
    providers = _providers(conn, new_inventories)
    _check_classes(conn, new_inventories)

    # Step 1: current plus new inventory, so nothing allocated disappears
    # and every moved allocation has somewhere to land.
    for rp_uuid, data in new_inventories.items():
        if not data["inventories"]:
            continue
        provider = providers[rp_uuid]
        union = {
            name: dict(row._mapping)
            for name, row in inventory_domain.list_for(conn, provider).items()
        }
        union.update(data["inventories"])
        inventory_domain.replace_provider(
            conn, provider, provider.generation, union, True
        )

    # Step 2: the allocations, read and checked through this transaction.
    allocations.write(conn, requests)

    # Step 3: exactly the new inventory.
    for rp_uuid, data in new_inventories.items():
        provider = provider_lookup.get(conn, rp_uuid)
        inventory_domain.replace_provider(
            conn, provider, provider.generation, data["inventories"], True
        )


def run(
    db: Database,
    new_inventories: NewInventories,
    requests: Sequence[allocations.Request],
) -> None:
    """``reshape`` in a write transaction of its own. A consumer created
    concurrently by another request is a consumer race (409)."""
    try:
        return db.run_write(reshape, new_inventories, requests)
    except sa_exc.IntegrityError:
        raise allocations.ConsumerRace() from None
