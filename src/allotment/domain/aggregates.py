"""Provider aggregates: the set of aggregate UUIDs a provider belongs to.

Aggregates are bare UUIDs (placement_aggregates), created the first time a
provider is put in one and never removed; resource_provider_aggregates
holds the associations.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence

import sqlalchemy as sa

from allotment import exceptions
from allotment.domain import provider_lookup
from allotment.storage import changes
from allotment.storage import tables
from allotment.storage.clock import utcnow

AGG = tables.placement_aggregates
RP = tables.resource_providers
RPA = tables.resource_provider_aggregates


def find(
    conn: sa.Connection, provider_uuid: str, lock: bool = False
) -> sa.Row:
    """The provider row ``provider_uuid``; 404 when there is none.

    ``lock`` holds the row until the transaction ends, so that writers of
    one provider's aggregates take turns.
    """
    query = sa.select(RP).where(RP.c.uuid == provider_uuid)
    if lock:
        query = query.with_for_update()
    provider = conn.execute(query).first()
    if provider is None:
        raise provider_lookup.not_found(provider_uuid)
    return provider


def uuids_of(conn: sa.Connection, provider_id: int) -> Sequence[str]:
    """The aggregate UUIDs of a provider, oldest aggregate first."""
    return conn.scalars(
        sa.select(AGG.c.uuid)
        .join(RPA, RPA.c.aggregate_id == AGG.c.id)
        .where(RPA.c.resource_provider_id == provider_id)
        .order_by(AGG.c.id)
    ).all()


def _ensure(conn: sa.Connection, uuids: Iterable[str]) -> dict[str, int]:
    """Map each of ``uuids`` to its aggregate id, creating missing ones.

    A concurrent creation of the same UUID is absorbed: the insert runs in
    a savepoint and the look-up is repeated.
    """
    while True:
        found: dict[str, int] = dict(
            conn.execute(
                sa.select(AGG.c.uuid, AGG.c.id).where(
                    AGG.c.uuid.in_(sorted(uuids))
                )
            ).all()
        )
        missing = sorted(set(uuids) - set(found))
        if not missing:
            return found
        now = utcnow()
        try:
            with conn.begin_nested():
                conn.execute(
                    AGG.insert(),
                    [{"uuid": uuid, "created_at": now} for uuid in missing],
                )
        except sa.exc.IntegrityError:
            continue


def replace(
    conn: sa.Connection,
    provider_uuid: str,
    uuids: Iterable[str],
    generation: int | None = None,
) -> int:
    """Make ``uuids`` the aggregates of the provider; returns its generation.

    With ``generation`` (1.19 on) the provider must still be at that
    generation, which is then bumped (409 placement.concurrent_update
    otherwise); without it the generation is left alone.
    """
    provider = find(conn, provider_uuid, lock=True)
    if generation is not None and generation != provider.generation:
        raise exceptions.ConcurrentUpdate(
            "Resource provider's generation already changed. Please update "
            "the generation and try again."
        )
    wanted = _ensure(conn, set(uuids)) if uuids else {}
    current = set(
        conn.scalars(
            sa.select(RPA.c.aggregate_id).where(
                RPA.c.resource_provider_id == provider.id
            )
        ).all()
    )
    wanted_ids = set(wanted.values())
    gone = current - wanted_ids
    if gone:
        conn.execute(
            RPA.delete().where(
                RPA.c.resource_provider_id == provider.id,
                RPA.c.aggregate_id.in_(sorted(gone)),
            )
        )
    added = wanted_ids - current
    if added:
        now = utcnow()
        conn.execute(
            RPA.insert(),
            [
                {
                    "resource_provider_id": provider.id,
                    "aggregate_id": agg_id,
                    "created_at": now,
                }
                for agg_id in sorted(added)
            ],
        )
    if gone or added or generation is not None:
        # a new generation (listed with the provider) is a change too
        changes.record(conn, [provider.id])
    if generation is None:
        return provider.generation
    return provider_lookup.bump_generation(
        conn, provider.id, provider.generation
    )
