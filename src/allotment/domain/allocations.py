"""Allocations: reading them, and the claim path that replaces them.

``replace`` sets the complete allocations of one or more consumers in one
write transaction with a fixed number of set-oriented statements: one read
of the consumers, the providers of what they hold and the ids of their
owners and custom classes; one read of the providers with the inventory
and usage of every (provider, class) involved; then, after the capacity
and inventory checks, the swap of the allocation rows (the DELETE only
when the consumers held any), the consumer generations, and the
generation of every provider involved bumped with one compare-and-set.

The providers' generations are read in the statement that reads their
usage, so a writer that commits after it makes the compare-and-set fail
rather than letting a stale usage pass the capacity check. A lost
provider race rolls the whole transaction back and runs it again, up to
``[placement] allocation_conflict_retry_count`` times.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Collection
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from allotment import exceptions
from allotment import metrics
from allotment.domain import capacity
from allotment.domain import consumers as consumer_domain
from allotment.domain import resource_classes
from allotment.storage import changes
from allotment.storage import tables
from allotment.storage import usage_totals
from allotment.storage.clock import utcnow
from allotment.storage.usage_totals import Owner

if TYPE_CHECKING:
    from oslo_config import cfg

    from allotment.storage.engine import Database

LOG = logging.getLogger(__name__)

ALLOC = tables.allocations
INV = tables.inventories
RP = tables.resource_providers
CONSUMERS = tables.consumers
RC = tables.resource_classes

# consumer generation value meaning "the request does not check it"
# (microversions before 1.28).
UNCHECKED = object()


class Request(NamedTuple):
    """The new state of one consumer's allocations.

    ``allocations`` maps provider uuid -> {resource class name: amount};
    empty means "remove them all". ``project_id``/``user_id`` are external
    ids; ``generation`` is the consumer generation the client saw (None for
    a new consumer) or UNCHECKED; ``consumer_type`` a name or None (keep).
    """

    uuid: str
    project_id: str
    user_id: str
    allocations: dict[str, dict[str, int]]
    generation: object = UNCHECKED
    consumer_type: str | None = None


# (consumer uuid, provider id, class id, used, class name, provider uuid)
NewRow = tuple[str, int, int, int, str, str]
# project ids, user ids, consumer type ids by external id / name
Owners = tuple[dict[str, int], dict[str, int], dict[str, int]]


class UnknownClass(exceptions.BadRequest):
    """An allocation names a resource class that does not exist."""


class InvalidAllocation(exceptions.Conflict):
    """An allocation does not fit the provider's inventory."""


class ProviderRace(exceptions.ConcurrentUpdate):
    """A provider's generation moved while the allocations were written."""

    def __init__(self) -> None:
        super().__init__(
            "Another thread concurrently updated the resource "
            "provider data. Please retry your update"
        )


class ConsumerRace(exceptions.ConcurrentUpdate):
    """A consumer changed while its allocations were written."""


# Statements are built once, with bind parameters (expanding ones for IN
# lists): building a statement and computing its cache key cost more than
# running it for one consumer.


def _in(column: sa.ColumnElement, name: str) -> sa.ColumnElement[bool]:
    """``column IN (:name)``, the list given when the statement runs."""
    return column.in_(sa.bindparam(name, expanding=True))


# The claim's two reads are built once per length of each list they take
# (mostly one of each), with a plain parameter per item: an expanding
# parameter re-renders the statement's SQL on every run, about a tenth of
# the cost of a read.
Lengths = tuple[tuple[str, int], ...]


def _listed(
    column: sa.ColumnElement, name: str, lengths: Lengths
) -> sa.ColumnElement[bool]:
    """``column IN (:name_0, ..., :name_<n-1>)``, n the length of list
    ``name`` in ``lengths``."""
    count = dict(lengths)[name]
    return column.in_(
        [sa.bindparam("%s_%d" % (name, n)) for n in range(count)]
    )


def _lists(lists: dict[str, list]) -> tuple[Lengths, dict[str, object]]:
    """(the lengths of ``lists``, their items as the parameters of
    ``_listed``)."""
    params = {
        "%s_%d" % (name, n): value
        for name, values in lists.items()
        for n, value in enumerate(values)
    }
    return tuple((name, len(values)) for name, values in lists.items()), params


# Reading ---------------------------------------------------------------


_FOR_CONSUMER = (
    sa.select(
        RP.c.uuid.label("provider_uuid"),
        RP.c.generation.label("provider_generation"),
        ALLOC.c.resource_class_id,
        ALLOC.c.used,
        ALLOC.c.created_at,
        ALLOC.c.updated_at,
        CONSUMERS.c.generation.label("consumer_generation"),
        tables.consumer_types.c.name.label("consumer_type"),
        tables.projects.c.external_id.label("project_id"),
        tables.users.c.external_id.label("user_id"),
    )
    .select_from(
        ALLOC.join(RP, RP.c.id == ALLOC.c.resource_provider_id)
        .join(CONSUMERS, CONSUMERS.c.uuid == ALLOC.c.consumer_id)
        .join(tables.projects, tables.projects.c.id == CONSUMERS.c.project_id)
        .join(tables.users, tables.users.c.id == CONSUMERS.c.user_id)
        .outerjoin(
            tables.consumer_types,
            tables.consumer_types.c.id == CONSUMERS.c.consumer_type_id,
        )
    )
    .where(ALLOC.c.consumer_id == sa.bindparam("consumer_uuid"))
    .order_by(ALLOC.c.id)
)


def for_consumer(conn: sa.Connection, consumer_uuid: str) -> Sequence[sa.Row]:
    """The consumer's allocations as rows (provider uuid and generation,
    class id, used, time stamps, consumer generation, type name, project
    and user external ids)."""
    return conn.execute(_FOR_CONSUMER, {"consumer_uuid": consumer_uuid}).all()


_FOR_PROVIDER = (
    sa.select(
        ALLOC.c.consumer_id.label("consumer_uuid"),
        CONSUMERS.c.generation.label("consumer_generation"),
        ALLOC.c.resource_class_id,
        ALLOC.c.used,
        ALLOC.c.created_at,
        ALLOC.c.updated_at,
    )
    .select_from(
        ALLOC.join(CONSUMERS, CONSUMERS.c.uuid == ALLOC.c.consumer_id)
    )
    .where(ALLOC.c.resource_provider_id == sa.bindparam("provider_id"))
    .order_by(ALLOC.c.id)
)


def for_provider(conn: sa.Connection, provider_id: int) -> Sequence[sa.Row]:
    """The allocations on a provider: rows of consumer uuid and generation,
    class id, used and time stamps."""
    return conn.execute(_FOR_PROVIDER, {"provider_id": provider_id}).all()


# Deleting --------------------------------------------------------------


_DELETED = (
    ALLOC.c.resource_provider_id,
    ALLOC.c.consumer_id,
    ALLOC.c.resource_class_id,
    ALLOC.c.used,
)
_OF_CONSUMERS = _in(ALLOC.c.consumer_id, "consumer_uuids")
_DELETE = ALLOC.delete().where(_OF_CONSUMERS)
_DELETE_RETURNING = _DELETE.returning(*_DELETED)
_HELD = sa.select(*_DELETED).where(_OF_CONSUMERS).with_for_update()


def _delete(
    conn: sa.Connection, consumer_uuids: Collection[str]
) -> Sequence[sa.Row]:
    """Delete the allocations of ``consumer_uuids``; answers the rows
    deleted (provider id, consumer uuid, class id, used), from the DELETE
    itself where the database can return them."""
    params = {"consumer_uuids": list(consumer_uuids)}
    if conn.dialect.delete_returning:
        return conn.execute(_DELETE_RETURNING, params).all()
    held = conn.execute(_HELD, params).all()
    conn.execute(_DELETE, params)
    return held


def _count_deleted(
    delta: usage_totals.Delta, deleted: Sequence, owners: dict[str, Owner]
) -> None:
    """Take the ``deleted`` rows (of ``_delete``) of the consumers with an
    owner off the usage totals."""
    lost = collections.defaultdict(list)
    for _rp_id, consumer_uuid, rc_id, used in deleted:
        lost[consumer_uuid].append((rc_id, used))
    for consumer_uuid, allocations in lost.items():
        owner = owners.get(consumer_uuid)
        if owner is not None:
            delta.remove(owner, allocations)


_LOCK_CONSUMER = (
    sa.select(
        CONSUMERS.c.project_id,
        CONSUMERS.c.user_id,
        CONSUMERS.c.consumer_type_id,
    )
    .where(CONSUMERS.c.uuid == sa.bindparam("consumer_uuid"))
    .with_for_update()
)
_DELETE_CONSUMER = CONSUMERS.delete().where(
    CONSUMERS.c.uuid == sa.bindparam("consumer_uuid")
)


def delete_for_consumer(conn: sa.Connection, consumer_uuid: str) -> None:
    """Remove all allocations of a consumer, and the consumer; 404 when it
    holds none. The providers' generations stay, as in the reference, but
    their usage dropped: they go in the change log."""
    # Wait for a writer moving this consumer (every writer updates its
    # row) to commit first: under READ COMMITTED a DELETE that waited for
    # the rows the writer replaced skips them and, on PostgreSQL, misses
    # the ones it inserted (404 while they stay allocated).
    consumer = conn.execute(
        _LOCK_CONSUMER, {"consumer_uuid": consumer_uuid}
    ).first()
    deleted = _delete(conn, [consumer_uuid])
    if not deleted:
        raise exceptions.NotFound(
            "No allocations for consumer '%s'" % consumer_uuid
        )
    conn.execute(_DELETE_CONSUMER, {"consumer_uuid": consumer_uuid})
    delta = usage_totals.Delta()
    if consumer is not None:
        _count_deleted(
            delta, deleted, {consumer_uuid: usage_totals.owner_of(*consumer)}
        )
    delta.apply(conn)
    changes.record(conn, {row[0] for row in deleted}, usage_only=True)


# Writing ---------------------------------------------------------------


def replace(
    db: Database, conf: cfg.ConfigOpts, requests: Sequence[Request]
) -> None:
    """Write ``requests`` (a list of Request) in one transaction, retrying
    lost provider generation races; 409 ProviderRace when retries run out.
    """
    attempts = max(1, conf.placement.allocation_conflict_retry_count)
    for attempt in range(attempts):
        try:
            return db.run_write(write, requests)
        except ProviderRace:
            metrics.RETRIES.labels("generation").inc()
            LOG.debug(
                "allocation write lost a provider race (attempt %d)",
                attempt + 1,
            )
        except sa_exc.IntegrityError as error:
            # A concurrent writer created the same project, user, consumer
            # type or consumer first: run again to see its row.
            LOG.debug("allocation write collided on insert: %s", error.orig)
            metrics.RETRIES.labels("insert").inc()
    LOG.warning("Exceeded retry limit of %d on allocations write", attempts)
    raise ProviderRace()


_INSERT = ALLOC.insert()


def write(conn: sa.Connection, requests: Sequence[Request]) -> None:
    """Replace the allocations of the consumers in ``requests`` inside the
    caller's transaction (which may already have changed the providers:
    their generations are read through it)."""
    uuids = [r.uuid for r in requests]
    names = list(
        dict.fromkeys(
            rc
            for r in requests
            for resources in r.allocations.values()
            for rc in resources
        )
    )
    rc_ids, custom = resource_classes.standard_ids(conn, names)
    wanted = _owner_names(requests)
    found = _look_up(conn, requests, wanted, custom)
    existing = found.consumers
    _check_consumer_generations(requests, existing)
    owners = _owner_ids(conn, wanted, found)
    rc_ids.update(found.classes)
    providers, inventory = _providers_and_usage(conn, requests, rc_ids)
    touched = {row.id: row.generation for row in providers.values()}
    for r in requests:
        if not r.allocations and r.uuid in existing:
            touched.update(found.held.get(r.uuid, {}))
    rows = _new_rows(requests, providers, names, rc_ids)
    _check_capacity(rows, inventory)

    # A consumer that held nothing when looked up has nothing to delete: a
    # writer giving it allocations since either created its row or moved
    # its generation, which this write's insert or compare-and-set of the
    # consumer then fails on.
    deleted = _delete(conn, uuids) if found.held else ()
    if rows:
        now = utcnow()
        conn.execute(
            _INSERT,
            [
                {
                    "resource_provider_id": provider_id,
                    "resource_class_id": rc_id,
                    "consumer_id": consumer_uuid,
                    "used": used,
                    "created_at": now,
                }
                for consumer_uuid, provider_id, rc_id, used, _rc, _rp in rows
            ],
        )
    _write_consumers(conn, requests, existing, owners)
    _bump_providers(conn, touched)
    _count_usage(deleted, rows, requests, existing, owners).apply(conn)
    # Usage changed wherever the consumers were and wherever they are now
    # (a provider they left keeps its generation, as in the reference);
    # nothing else of the providers did (the reshaper records its
    # inventory changes itself).
    changes.record(
        conn, {row[0] for row in deleted}.union(touched), usage_only=True
    )


def _count_usage(
    deleted: Sequence,
    rows: Sequence[NewRow],
    requests: Sequence[Request],
    existing: dict[str, consumer_domain.Consumer],
    owners: Owners,
) -> usage_totals.Delta:
    """The change in usage totals: the deleted rows off the owner each
    consumer had (as read with the generation ``_write_consumers`` then
    compare-and-set), the new rows onto the owner it has now."""
    delta = usage_totals.Delta()
    _count_deleted(
        delta,
        deleted,
        {
            uuid: usage_totals.owner_of(
                row.project_id, row.user_id, row.consumer_type_id
            )
            for uuid, row in existing.items()
        },
    )
    projects, users, types = owners
    held = collections.defaultdict(list)
    for consumer_uuid, _rp_id, rc_id, used, _rc, _rp in rows:
        held[consumer_uuid].append((rc_id, used))
    for req in requests:
        if req.uuid not in held:
            continue
        if req.consumer_type is not None:
            type_id = types.get(req.consumer_type)
        else:
            old = existing.get(req.uuid)
            type_id = old.consumer_type_id if old is not None else None
        owner = usage_totals.owner_of(
            projects[req.project_id], users[req.user_id], type_id
        )
        delta.add(owner, held[req.uuid])
    return delta


def _check_consumer_generations(
    requests: Sequence[Request], existing: dict[str, consumer_domain.Consumer]
) -> None:
    for req in requests:
        if req.generation is UNCHECKED:
            continue
        row = existing.get(req.uuid)
        if row is not None and row.generation != req.generation:
            raise exceptions.Conflict(
                "consumer generation conflict - expected %s but got %s"
                % (row.generation, req.generation),
                exceptions.CONCURRENT_UPDATE,
            )
        if row is None and req.generation is not None:
            raise exceptions.Conflict(
                "consumer generation conflict - expected null but got %s"
                % req.generation,
                exceptions.CONCURRENT_UPDATE,
            )


class Found(NamedTuple):
    """What the claim's first read found (``_look_up``).

    ``consumers``: uuid -> row of the consumers that exist; ``held``: uuid
    -> {provider id: generation} of the providers holding allocations of
    each consumer that has any (a provider whose row is gone counts, with
    no entry); ``owners``: kind (``consumers.OWNER_KEYS``) -> {external id
    or name: id}; ``classes``: name -> id of the custom classes named.
    """

    consumers: dict[str, consumer_domain.Consumer]
    held: dict[str, dict[int, int]]
    owners: dict[str, dict[str, int]]
    classes: dict[str, int]


_NO = sa.null()


@functools.lru_cache(maxsize=64)
def _look_up_statement(lengths: Lengths) -> sa.CompoundSelect:
    """The claim's first read, in one statement: rows of (kind, key, id,
    generation, project id, user id, type id) for the consumers of list
    ``uuids`` (kind ``consumer``), the providers holding their allocations
    (``held``: key the consumer, id and generation the provider's), and
    the owners and custom classes of the lists ``project``, ``user``,
    ``type`` and ``class`` (kind the list's name, key the name, id its
    row's; a list not in ``lengths`` is not looked up)."""

    def kind(name: str) -> sa.ColumnElement:
        return sa.literal_column("'%s'" % name)

    branches = [
        sa.select(
            kind("consumer"),
            CONSUMERS.c.uuid,
            CONSUMERS.c.id,
            CONSUMERS.c.generation,
            CONSUMERS.c.project_id,
            CONSUMERS.c.user_id,
            CONSUMERS.c.consumer_type_id,
        ).where(_listed(CONSUMERS.c.uuid, "uuids", lengths)),
        sa.select(
            kind("held"),
            ALLOC.c.consumer_id,
            ALLOC.c.resource_provider_id,
            RP.c.generation,
            _NO,
            _NO,
            _NO,
        )
        .select_from(
            ALLOC.outerjoin(RP, RP.c.id == ALLOC.c.resource_provider_id)
        )
        .where(_listed(ALLOC.c.consumer_id, "uuids", lengths)),
    ]
    named = dict(consumer_domain.OWNER_KEYS, **{"class": (RC, "name")})
    for kind_, _count in lengths[1:]:
        table, column = named[kind_]
        branches.append(
            sa.select(
                kind(kind_), table.c[column], table.c.id, _NO, _NO, _NO, _NO
            ).where(_listed(table.c[column], kind_, lengths))
        )
    return sa.union_all(*branches)


def _owner_names(requests: Sequence[Request]) -> dict[str, set[str]]:
    """kind (``consumers.OWNER_KEYS``) -> the external ids or names of
    that kind the requests name."""
    return {
        "project": {r.project_id for r in requests},
        "user": {r.user_id for r in requests},
        "type": {
            r.consumer_type for r in requests if r.consumer_type is not None
        },
    }


def _look_up(
    conn: sa.Connection,
    requests: Sequence[Request],
    wanted: dict[str, set[str]],
    custom: list[str],
) -> Found:
    """The consumers of ``requests``, the providers of their allocations,
    the ids of their owners (``wanted``, of ``_owner_names``) and of the
    ``custom`` class names, in one statement."""
    lists = {
        "uuids": list({r.uuid for r in requests}),
        "project": list(wanted["project"]),
        "user": list(wanted["user"]),
    }
    if wanted["type"]:
        lists["type"] = list(wanted["type"])
    if custom:
        lists["class"] = custom
    lengths, params = _lists(lists)
    consumers = {}
    held: dict[str, dict[int, int]] = {}
    owners: dict[str, dict[str, int]] = {
        kind: {} for kind in consumer_domain.OWNER_KEYS
    }
    classes = {}
    statement = _look_up_statement(lengths)
    for kind, key, id_, generation, *owner in conn.execute(statement, params):
        if kind == "consumer":
            consumers[key] = consumer_domain.Consumer(
                id_, key, generation, *owner
            )
        elif kind == "held":
            providers = held.setdefault(key, {})
            if generation is not None:
                providers[id_] = generation
        elif kind == "class":
            classes[key] = id_
        else:
            owners[kind][key] = id_
    return Found(consumers, held, owners, classes)


def _owner_ids(
    conn: sa.Connection, wanted: dict[str, set[str]], found: Found
) -> Owners:
    """(project ids, user ids, consumer type ids) by external id / name
    (``wanted``, of ``_owner_names``), creating the owners ``found``
    lacks."""
    projects, users, types = (
        consumer_domain.with_new(conn, kind, found.owners[kind], wanted[kind])
        for kind in ("project", "user", "type")
    )
    return projects, users, types


@functools.lru_cache(maxsize=64)
def _providers_and_usage_statement(lengths: Lengths) -> sa.Select:
    """Every provider of list ``uuids`` (id, uuid, generation) with its
    inventory of the classes of list ``rc_ids`` (none: NULLs), and the
    usage of each inventory by all consumers and by those of list
    ``consumer_uuids`` alone. One statement, so the generations are read
    with the usage they guard: a writer committing after it moves the
    generation that the write then compare-and-sets."""
    other = ALLOC.alias("counted")
    used_all = (
        sa.select(sa.func.sum(other.c.used))
        .where(
            other.c.resource_provider_id == INV.c.resource_provider_id,
            other.c.resource_class_id == INV.c.resource_class_id,
        )
        .scalar_subquery()
    )
    # The consumers' own usage found through their rows (the consumer
    # index): the sum of all, on a provider holding thousands of
    # allocations, reads the provider-class index alone.
    mine = (
        sa.select(
            ALLOC.c.resource_provider_id,
            ALLOC.c.resource_class_id,
            sa.func.sum(ALLOC.c.used).label("used"),
        )
        .where(_listed(ALLOC.c.consumer_id, "consumer_uuids", lengths))
        .group_by(ALLOC.c.resource_provider_id, ALLOC.c.resource_class_id)
        .subquery("mine")
    )
    return (
        sa.select(
            RP.c.id,
            RP.c.uuid,
            RP.c.generation,
            INV.c.resource_class_id,
            INV.c.total,
            INV.c.reserved,
            INV.c.min_unit,
            INV.c.max_unit,
            INV.c.step_size,
            INV.c.allocation_ratio,
            used_all.label("used_all"),
            mine.c.used.label("used_mine"),
        )
        .select_from(
            RP.outerjoin(
                INV,
                sa.and_(
                    INV.c.resource_provider_id == RP.c.id,
                    _listed(INV.c.resource_class_id, "rc_ids", lengths),
                ),
            ).outerjoin(
                mine,
                sa.and_(
                    mine.c.resource_provider_id == INV.c.resource_provider_id,
                    mine.c.resource_class_id == INV.c.resource_class_id,
                ),
            )
        )
        .where(_listed(RP.c.uuid, "uuids", lengths))
    )


# (provider id, class id) -> its inventory row, with the usage
Inventory = dict[tuple[int, int], sa.Row]


class Provider(NamedTuple):
    id: int
    uuid: str
    generation: int


def _providers_and_usage(
    conn: sa.Connection, requests: Sequence[Request], rc_ids: dict[str, int]
) -> tuple[dict[str, Provider], Inventory]:
    """(provider uuid -> Provider for every provider the requests allocate
    from, the inventory and usage of the classes of ``rc_ids`` on them);
    400 for the first provider that does not exist."""
    wanted = list(
        dict.fromkeys(rp_uuid for r in requests for rp_uuid in r.allocations)
    )
    if not wanted:
        return {}, {}
    lengths, params = _lists(
        {
            "uuids": wanted,
            "rc_ids": list(set(rc_ids.values())),
            "consumer_uuids": list({r.uuid for r in requests}),
        }
    )
    found = {}
    inventory = {}
    statement = _providers_and_usage_statement(lengths)
    for row in conn.execute(statement, params):
        found[row.uuid] = Provider(row.id, row.uuid, row.generation)
        if row.resource_class_id is not None:
            inventory[row.id, row.resource_class_id] = row
    for rp_uuid in wanted:
        if rp_uuid not in found:
            raise exceptions.BadRequest(
                "Allocation for resource provider '%s' that does not exist."
                % rp_uuid
            )
    return found, inventory


def _new_rows(
    requests: Sequence[Request],
    providers: dict[str, Provider],
    names: Sequence[str],
    rc_ids: dict[str, int],
) -> list[NewRow]:
    """The allocation rows to insert, in request order: tuples of
    (consumer uuid, provider id, class id, used, class name, provider uuid).
    400 for the first of the class ``names`` (in request order) that is
    unknown."""
    for name in names:
        if name not in rc_ids:
            raise UnknownClass("No such resource class %s." % name)
    return [
        (r.uuid, providers[rp_uuid].id, rc_ids[rc], used, rc, rp_uuid)
        for r in requests
        for rp_uuid, resources in r.allocations.items()
        for rc, used in resources.items()
    ]


def _check_capacity(rows: Sequence[NewRow], inventory: Inventory) -> None:
    """409 InvalidAllocation unless every new allocation fits its
    provider's inventory (``inventory``, of ``_providers_and_usage``),
    counting the other consumers' usage."""
    if not rows:
        return
    with_inventory = {key[0] for key in inventory}
    for _c, provider_id, _rc_id, _used, _rc, rp_uuid in rows:
        if provider_id not in with_inventory:
            names = ", ".join(dict.fromkeys(row[4] for row in rows))
            raise InvalidAllocation(
                "Inventory for '%s' on resource provider '%s' invalid."
                % (names, rp_uuid)
            )

    needed: collections.defaultdict[tuple[int, int], int] = (
        collections.defaultdict(int)
    )
    for _c, provider_id, rc_id, used, rc, rp_uuid in rows:
        inv = inventory.get((provider_id, rc_id))
        if inv is None:
            raise InvalidAllocation(
                "Inventory for '%s' on resource provider '%s' invalid."
                % (rc, rp_uuid)
            )
        if not capacity.within_units(
            used, inv.min_unit, inv.max_unit, inv.step_size
        ):
            raise InvalidAllocation(
                "Unable to create allocation for '%s' on resource provider "
                "'%s'. The requested amount would violate inventory "
                "constraints." % (rc, rp_uuid)
            )
        needed[provider_id, rc_id] += used
        previous = int(inv.used_all) if inv.used_all is not None else None
        others = (previous or 0) - int(inv.used_mine or 0)
        cap = capacity.capacity(inv.total, inv.reserved, inv.allocation_ratio)
        after = others + needed[provider_id, rc_id]
        if not capacity.has_room(needed[provider_id, rc_id], cap, others) and (
            previous is None or after > previous
        ):
            # Over capacity is accepted only when the write leaves the
            # provider no more over-committed than it was.
            raise InvalidAllocation(
                "Unable to create allocation for '%s' on resource provider "
                "'%s'. The requested amount would exceed the capacity."
                % (rc, rp_uuid)
            )


def _write_consumers(
    conn: sa.Connection,
    requests: Sequence[Request],
    existing: dict[str, consumer_domain.Consumer],
    owners: Owners,
) -> None:
    """Create new consumers, advance (or, when left without allocations,
    delete) existing ones; ConsumerRace when one changed meanwhile."""
    projects, users, types = owners
    new_rows = []
    for req in requests:
        project_id = projects[req.project_id]
        user_id = users[req.user_id]
        type_id = (
            None if req.consumer_type is None else types.get(req.consumer_type)
        )
        row = existing.get(req.uuid)
        if row is None:
            if req.allocations:
                new_rows.append(
                    {
                        "uuid": req.uuid,
                        "project_id": project_id,
                        "user_id": user_id,
                        "generation": 1,
                        "consumer_type_id": type_id,
                    }
                )
            continue
        if req.allocations:
            done = consumer_domain.advance(
                conn, row, project_id, user_id, type_id
            )
        else:
            done = consumer_domain.remove(conn, row)
        if not done:
            raise ConsumerRace()
    consumer_domain.create(conn, new_rows)


@functools.lru_cache(maxsize=32)
def _bump(count: int) -> sa.Update:
    """The compare-and-set of ``count`` providers: ids ``:provider_N`` at
    generations ``:expected_N`` advance one generation, stamped ``:now``."""
    return (
        RP.update()
        .where(
            sa.or_(
                *(
                    sa.and_(
                        RP.c.id == sa.bindparam("provider_%d" % n),
                        RP.c.generation == sa.bindparam("expected_%d" % n),
                    )
                    for n in range(count)
                )
            )
        )
        .values(
            generation=RP.c.generation + 1,
            updated_at=sa.bindparam("now", type_=RP.c.updated_at.type),
        )
    )


def _bump_providers(conn: sa.Connection, generations: dict[int, int]) -> None:
    """Advance every provider of ``generations`` (id -> expected generation)
    in one compare-and-set; ProviderRace when any of them moved."""
    if not generations:
        return
    params: dict[str, object] = {"now": utcnow()}
    for n, (provider_id, generation) in enumerate(generations.items()):
        params["provider_%d" % n] = provider_id
        params["expected_%d" % n] = generation
    result = conn.execute(_bump(len(generations)), params)
    if result.rowcount != len(generations):
        raise ProviderRace()
