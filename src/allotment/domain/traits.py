"""Traits: the standard set (os-traits) and CUSTOM_* ones, and the traits of
each provider.

``ids_for`` maps trait names to ids for the other layers
(provider listing, allocation candidates).
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Sequence

import sqlalchemy as sa

from allotment import exceptions
from allotment.domain import provider_lookup
from allotment.storage import changes
from allotment.storage import tables
from allotment.storage.clock import utcnow

CUSTOM_PREFIX = "CUSTOM_"

TR = tables.traits
RPT = tables.resource_provider_traits


def ids_for(conn: sa.Connection, names: Collection[str]) -> dict[str, int]:
    """Map each known trait name in ``names`` to its id (unknown omitted)."""
    names = list(set(names))
    if not names:
        return {}
    return dict(
        conn.execute(
            sa.select(TR.c.name, TR.c.id).where(TR.c.name.in_(names))
        ).all()
    )


def list_all(
    conn: sa.Connection,
    name_in: Collection[str] | None = None,
    prefix: str | None = None,
    associated: bool | None = None,
) -> Sequence[sa.Row]:
    """Trait rows (id, name, created_at, updated_at) in id order.

    ``name_in``: only these names; ``prefix``: names starting with it;
    ``associated``: True for traits some provider has, False for the others.
    """
    query = sa.select(TR)
    if name_in is not None:
        query = query.where(TR.c.name.in_(name_in))
    if prefix is not None:
        escaped = (
            prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
        )
        query = query.where(TR.c.name.like(escaped + "%", escape="/"))
    if associated is not None:
        used = sa.exists().where(RPT.c.trait_id == TR.c.id)
        query = query.where(used if associated else ~used)
    return conn.execute(query.order_by(TR.c.id)).all()


def get(conn: sa.Connection, name: str) -> sa.Row:
    """The trait row named ``name``; 404 when there is none."""
    row = conn.execute(sa.select(TR).where(TR.c.name == name)).first()
    if row is None:
        raise exceptions.NotFound("No such trait(s): %s." % name)
    return row


def ensure(conn: sa.Connection, name: str) -> tuple[sa.Row, bool]:
    """Create the custom trait ``name`` unless it exists.

    Returns (row, created).
    """
    row = conn.execute(sa.select(TR).where(TR.c.name == name)).first()
    if row is not None:
        return row, False
    try:
        with conn.begin_nested():
            conn.execute(TR.insert().values(name=name, created_at=utcnow()))
    except sa.exc.IntegrityError:
        # Created concurrently: it exists now.
        return get(conn, name), False
    return get(conn, name), True


def delete(conn: sa.Connection, name: str) -> None:
    """Delete a custom trait: 404 unknown, 400 standard, 409 in use."""
    row = get(conn, name)
    if not name.startswith(CUSTOM_PREFIX):
        raise exceptions.BadRequest("Cannot delete standard trait %s." % name)
    in_use = conn.scalar(
        sa.select(sa.func.count())
        .select_from(RPT)
        .where(RPT.c.trait_id == row.id)
    )
    if in_use:
        raise exceptions.Conflict(
            "The trait %s is in use by a resource provider." % name
        )
    conn.execute(TR.delete().where(TR.c.id == row.id))


def for_provider(conn: sa.Connection, provider_id: int) -> Sequence[sa.Row]:
    """Trait rows of one provider, in id order."""
    return conn.execute(
        sa.select(TR)
        .join(RPT, RPT.c.trait_id == TR.c.id)
        .where(RPT.c.resource_provider_id == provider_id)
        .order_by(TR.c.id)
    ).all()


def _replace(
    conn: sa.Connection, provider: sa.Row, wanted_ids: Iterable[int]
) -> int:
    """Make ``wanted_ids`` the provider's traits; bump the generation only
    when something changed. Returns the provider's generation."""
    current = set(
        conn.scalars(
            sa.select(RPT.c.trait_id).where(
                RPT.c.resource_provider_id == provider.id
            )
        )
    )
    wanted = set(wanted_ids)
    to_add = wanted - current
    to_delete = current - wanted
    if not to_add and not to_delete:
        return provider.generation
    if to_delete:
        conn.execute(
            RPT.delete().where(
                RPT.c.resource_provider_id == provider.id,
                RPT.c.trait_id.in_(to_delete),
            )
        )
    if to_add:
        now = utcnow()
        try:
            with conn.begin_nested():
                conn.execute(
                    RPT.insert(),
                    [
                        {
                            "resource_provider_id": provider.id,
                            "trait_id": t,
                            "created_at": now,
                        }
                        for t in sorted(to_add)
                    ],
                )
        except sa.exc.IntegrityError:
            raise exceptions.ConcurrentUpdate() from None
    generation = provider_lookup.bump_generation(
        conn, provider.id, provider.generation
    )
    changes.record(conn, [provider.id])
    return generation


def set_for_provider(
    conn: sa.Connection,
    provider_uuid: str,
    generation: int,
    names: Collection[str],
) -> tuple[int, Sequence[sa.Row]]:
    """Replace the provider's traits with ``names`` (PUT).

    404 for an unknown provider, 409 on a stale generation, 400 for unknown
    traits. Returns (generation, trait rows).
    """
    provider = provider_lookup.get(conn, provider_uuid)
    if generation != provider.generation:
        raise exceptions.ConcurrentUpdate(
            "Resource provider's generation already changed. Please update "
            "the generation and try again."
        )
    rows = list_all(conn, name_in=list(set(names))) if names else []
    unknown = sorted(set(names) - {r.name for r in rows})
    if unknown:
        raise exceptions.BadRequest("No such trait %s" % ", ".join(unknown))
    return _replace(conn, provider, [r.id for r in rows]), rows


def clear_for_provider(conn: sa.Connection, provider_uuid: str) -> None:
    """Remove all the provider's traits (DELETE); 404 for an unknown
    provider."""
    _replace(conn, provider_lookup.get(conn, provider_uuid), [])
