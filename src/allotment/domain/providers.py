"""Resource providers: create, show, update (rename, re-parent), delete, and
the filtered listing in SQL (``list_filtered``: the API lists from the
provider snapshot, candidates/listing.py, and falls back on it where the
snapshot cannot decide; the tests compare the two).

A provider row is shown with its root's and parent's UUIDs (``row.uuid``,
``row.name``, ``row.generation``, ``row.root_provider_uuid``,
``row.parent_provider_uuid``, ``row.created_at``, ``row.updated_at``).
Every provider points at the root of its tree (``root_provider_id``), so a
tree is found with one indexed lookup.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Collection
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from allotment import exceptions
from allotment.domain import capacity
from allotment.domain import provider_lookup
from allotment.domain import resource_classes
from allotment.storage import changes
from allotment.storage import tables
from allotment.storage.clock import utcnow

RP = tables.resource_providers
INV = tables.inventories
ALLOC = tables.allocations
RPA = tables.resource_provider_aggregates
AGG = tables.placement_aggregates
RPT = tables.resource_provider_traits
TRAITS = tables.traits


def _shown() -> tuple[sa.Select, sa.FromClause]:
    """A select of providers with the UUIDs of their root and parent, and
    the provider table alias to filter it on."""
    rp = RP.alias("rp")
    root = RP.alias("root")
    parent = RP.alias("parent")
    joined = rp.join(root, rp.c.root_provider_id == root.c.id).outerjoin(
        parent, rp.c.parent_provider_id == parent.c.id
    )
    query = sa.select(
        rp.c.id,
        rp.c.uuid,
        rp.c.name,
        rp.c.generation,
        rp.c.created_at,
        rp.c.updated_at,
        root.c.uuid.label("root_provider_uuid"),
        parent.c.uuid.label("parent_provider_uuid"),
    ).select_from(joined)
    return query, rp


# Built once: constructing the statement costs more than running it for one
# provider.
_SHOWN = _shown()
_GET = _SHOWN[0].where(_SHOWN[1].c.uuid == sa.bindparam("uuid"))


def get(conn: sa.Connection, uuid: str) -> sa.Row:
    """The shown provider ``uuid``; 404 when there is none."""
    row = conn.execute(_GET, {"uuid": uuid}).first()
    if row is None:
        raise provider_lookup.not_found(uuid)
    return row


def _ids(conn: sa.Connection, uuid: str) -> sa.Row | None:
    """(id, parent id, root id) of the provider ``uuid``, or None."""
    return conn.execute(
        sa.select(
            RP.c.id, RP.c.parent_provider_id, RP.c.root_provider_id
        ).where(RP.c.uuid == uuid)
    ).first()


def _locked_ids(conn: sa.Connection, *uuids: str) -> list[sa.Row | None]:
    """``_ids`` of each of ``uuids`` (None when unknown), read after locking
    the root rows of their trees (in id order, against deadlocks).

    Writers that change a tree's shape lock its root first, so that a
    subtree is not moved while a child is added under it, nor two
    providers made each other's ancestors at once.
    """
    while True:
        before = [_ids(conn, uuid) for uuid in uuids]
        roots = sorted({row.root_provider_id for row in before if row})
        conn.execute(
            sa.select(RP.c.id)
            .where(RP.c.id.in_(roots))
            .order_by(RP.c.id)
            .with_for_update()
        ).all()
        after = [_ids(conn, uuid) for uuid in uuids]
        if all(row is None or row.root_provider_id in roots for row in after):
            return after


def create(
    conn: sa.Connection, uuid: str, name: str, parent_uuid: str | None = None
) -> sa.Row:
    """Create a provider and return it shown.

    409 placement.duplicate_name when the name or UUID is taken, 400 when
    the parent is the provider itself or does not exist.
    """

    def refuse(reason: str) -> exceptions.BadRequest:
        return exceptions.BadRequest(
            'Unable to create resource provider "%s", %s: Object action '
            "create failed because: %s" % (name, uuid, reason)
        )

    if not name:
        raise refuse("name is required")
    parent = None
    if parent_uuid is not None:
        if parent_uuid == uuid:
            raise refuse(
                "parent provider UUID cannot be same as UUID. "
                "Please set parent provider UUID to None if there "
                "is no parent."
            )
        (parent,) = _locked_ids(conn, parent_uuid)
        if parent is None:
            raise refuse("parent provider UUID does not exist.")
    taken = conn.execute(
        sa.select(RP.c.uuid, RP.c.name).where(
            sa.or_(RP.c.uuid == uuid, RP.c.name == name)
        )
    ).all()
    if taken:
        duplicates = []
        if any(row.uuid == uuid for row in taken):
            duplicates.append("uuid: %s" % uuid)
        if any(row.name == name for row in taken):
            duplicates.append("name: %s" % name)
        raise exceptions.Conflict(
            "Conflicting resource provider %s already exists."
            % ", ".join(duplicates),
            exceptions.DUPLICATE_NAME,
        )
    now = utcnow()
    try:
        result = conn.execute(
            RP.insert().values(
                uuid=uuid,
                name=name,
                generation=0,
                created_at=now,
                parent_provider_id=parent.id if parent else None,
                root_provider_id=parent.root_provider_id if parent else None,
            )
        )
    except sa.exc.IntegrityError:
        raise exceptions.Conflict(
            "Conflicting resource provider %s already exists." % name,
            exceptions.DUPLICATE_NAME,
        ) from None
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row
    new_id = key[0]
    if parent is None:
        conn.execute(
            RP.update()
            .where(RP.c.id == new_id)
            .values(root_provider_id=new_id, updated_at=now)
        )
    changes.record(conn, [new_id])
    return get(conn, uuid)


def _subtree_ids(
    conn: sa.Connection, provider_id: int, root_id: int
) -> list[int]:
    """Ids of the provider and all its descendants (one query for the
    whole tree, walked here)."""
    children = collections.defaultdict(list)
    for child_id, parent_id in conn.execute(
        sa.select(RP.c.id, RP.c.parent_provider_id).where(
            RP.c.root_provider_id == root_id
        )
    ):
        if parent_id is not None:
            children[parent_id].append(child_id)
    found = [provider_id]
    pending = [provider_id]
    while pending:
        for child_id in children[pending.pop()]:
            found.append(child_id)
            pending.append(child_id)
    return found


_KEEP = object()


def update(
    conn: sa.Connection,
    uuid: str,
    name: str,
    parent_uuid: Any = _KEEP,
    allow_reparenting: bool = False,
) -> sa.Row:
    """Rename a provider and, when ``parent_uuid`` is given, set its parent.

    Before 1.37 (``allow_reparenting`` False) a provider may only gain a
    parent it did not have; from 1.37 it may move to another parent or
    become a root. It can never move under itself or its descendants. The
    whole moved subtree follows to the new root.
    """
    if parent_uuid is _KEEP:
        me = _ids(conn, uuid)
    elif parent_uuid is None:
        (me,) = _locked_ids(conn, uuid)
    else:
        me, parent = _locked_ids(conn, uuid, parent_uuid)
    if me is None:
        raise provider_lookup.not_found(uuid)

    def refuse(reason: str, action: str = "update") -> exceptions.BadRequest:
        return exceptions.BadRequest(
            "Unable to save resource provider %s: Object action %s failed "
            "because: %s" % (uuid, action, reason)
        )

    values = {"name": name, "updated_at": utcnow()}
    new_root = None
    if parent_uuid is not _KEEP:
        if parent_uuid is not None:
            if parent is None:
                raise refuse(
                    "parent provider UUID does not exist.", action="create"
                )
            if parent.id != me.parent_provider_id:
                if me.parent_provider_id is not None and (
                    not allow_reparenting
                ):
                    raise refuse(
                        "re-parenting a provider is not currently allowed."
                    )
                subtree = _subtree_ids(conn, me.id, me.root_provider_id)
                if parent.id in subtree:
                    raise refuse(
                        "creating loop in the provider tree is not allowed."
                    )
                values["parent_provider_id"] = parent.id
                new_root = parent.root_provider_id
        elif me.parent_provider_id is not None:
            if not allow_reparenting:
                raise refuse(
                    "un-parenting a provider is not currently allowed."
                )
            subtree = _subtree_ids(conn, me.id, me.root_provider_id)
            values["parent_provider_id"] = None
            new_root = me.id

    clash = conn.scalar(
        sa.select(RP.c.id).where(RP.c.name == name, RP.c.id != me.id)
    )
    if clash is not None:
        raise exceptions.Conflict(
            "Conflicting resource provider %s already exists." % name,
            exceptions.DUPLICATE_NAME,
        )
    changed = [me.id]
    try:
        conn.execute(RP.update().where(RP.c.id == me.id).values(**values))
        if new_root is not None and new_root != me.root_provider_id:
            conn.execute(
                RP.update()
                .where(RP.c.id.in_(subtree))
                .values(
                    root_provider_id=new_root, updated_at=values["updated_at"]
                )
            )
            changed = subtree
    except sa.exc.IntegrityError:
        raise exceptions.Conflict(
            "Conflicting resource provider %s already exists." % name,
            exceptions.DUPLICATE_NAME,
        ) from None
    changes.record(conn, changed)
    return get(conn, uuid)


def delete(conn: sa.Connection, uuid: str) -> None:
    """Delete a provider with its inventories, trait and aggregate links.

    409 when it has children or allocations.
    """
    me = _ids(conn, uuid)
    if me is None:
        raise exceptions.NotFound(
            "No resource provider with uuid %s found for delete" % uuid
        )
    cannot_delete_parent = exceptions.Conflict(
        "Unable to delete parent resource provider %s: It has child "
        "resource providers." % uuid,
        exceptions.PROVIDER_CANNOT_DELETE_PARENT,
    )
    child = conn.scalar(
        sa.select(RP.c.id).where(RP.c.parent_provider_id == me.id).limit(1)
    )
    if child is not None:
        raise cannot_delete_parent
    used = conn.scalar(
        sa.select(ALLOC.c.id)
        .where(ALLOC.c.resource_provider_id == me.id)
        .limit(1)
    )
    if used is not None:
        raise exceptions.Conflict(
            "Unable to delete resource provider %s: Resource provider has "
            "allocations." % uuid,
            exceptions.PROVIDER_IN_USE,
        )
    conn.execute(INV.delete().where(INV.c.resource_provider_id == me.id))
    conn.execute(RPA.delete().where(RPA.c.resource_provider_id == me.id))
    conn.execute(RPT.delete().where(RPT.c.resource_provider_id == me.id))
    try:
        conn.execute(
            RP.update()
            .where(RP.c.id == me.id, RP.c.root_provider_id == me.id)
            .values(root_provider_id=None)
        )
        conn.execute(RP.delete().where(RP.c.id == me.id))
    except sa.exc.IntegrityError:
        raise cannot_delete_parent from None
    changes.record(conn, [me.id])


@dataclasses.dataclass
class Filters:
    """What a provider listing is narrowed by (all optional, AND-ed).

    ``member_of`` and ``required_traits`` are lists of any-of sets;
    ``resources`` maps class names to amounts.
    """

    name: str | None = None
    uuid: str | None = None
    in_tree: str | None = None
    member_of: list[set[str]] = dataclasses.field(default_factory=list)
    forbidden_aggregates: set[str] = dataclasses.field(default_factory=set)
    required_traits: list[set[str]] = dataclasses.field(default_factory=list)
    forbidden_traits: set[str] = dataclasses.field(default_factory=set)
    resources: dict[str, int] = dataclasses.field(default_factory=dict)


def _trait_ids(conn: sa.Connection, names: Collection[str]) -> dict[str, int]:
    """Map trait names to ids; 400 naming an unknown trait."""
    if not names:
        return {}
    found: dict[str, int] = dict(
        conn.execute(
            sa.select(TRAITS.c.name, TRAITS.c.id).where(
                TRAITS.c.name.in_(sorted(names))
            )
        ).all()
    )
    missing = sorted(set(names) - set(found))
    if missing:
        raise exceptions.BadRequest(
            'Invalid trait(s) in "required" parameter: No such trait(s): '
            "%s." % missing[0]
        )
    return found


def _in_aggregates(rp: sa.FromClause, uuids: Any) -> sa.ColumnElement[bool]:
    """Providers associated with any aggregate of ``uuids`` (a list or an
    expanding bound parameter)."""
    return rp.c.id.in_(
        sa.select(RPA.c.resource_provider_id)
        .join(AGG, AGG.c.id == RPA.c.aggregate_id)
        .where(AGG.c.uuid.in_(uuids))
    )


def _having_traits(rp: sa.FromClause, trait_ids: Any) -> sa.Exists:
    """Providers having any trait of ``trait_ids`` (a list or an expanding
    bound parameter)."""
    return sa.exists().where(
        RPT.c.resource_provider_id == rp.c.id,
        RPT.c.trait_id.in_(trait_ids),
    )


def capacity_for(
    provider_id: sa.ColumnElement[Any], rc_id: Any, amount: Any
) -> sa.Exists:
    """True for the inventory of ``provider_id`` that can take ``amount`` of
    class ``rc_id`` more (the rule of domain/capacity.py); both may be
    bound parameters."""
    used = (
        sa.select(sa.func.coalesce(sa.func.sum(ALLOC.c.used), 0))
        .where(
            ALLOC.c.resource_provider_id == INV.c.resource_provider_id,
            ALLOC.c.resource_class_id == rc_id,
        )
        .scalar_subquery()
    )
    return sa.exists().where(
        INV.c.resource_provider_id == provider_id,
        INV.c.resource_class_id == rc_id,
        capacity.sql_fits(amount, used, INV),
    )


def named_like(
    conn: sa.Connection, fragment: str, limit: int
) -> Sequence[sa.Row]:
    """Up to ``limit`` shown providers whose name contains ``fragment``
    (case aside), by name."""
    query, rp = _SHOWN
    return conn.execute(
        query.where(
            sa.func.lower(rp.c.name).contains(
                fragment.lower(), autoescape=True
            )
        )
        .order_by(rp.c.name, rp.c.id)
        .limit(limit)
    ).all()


# The list's statements by shape (which filters, how many groups): built
# once each, values bound at execution; building one costs more than
# running it for a small answer.
_LISTS: dict[tuple[Any, ...], sa.Select] = {}


def _list_statement(shape: tuple[Any, ...]) -> sa.Select:
    statement = _LISTS.get(shape)
    if statement is None:
        statement = _LISTS[shape] = _build_list(*shape)
    return statement


def _build_list(
    name: bool,
    uuid: bool,
    in_tree: bool,
    required: int,
    forbidden_traits: bool,
    member_of: int,
    forbidden_aggregates: bool,
    resources: int,
) -> sa.Select:
    query, rp = _SHOWN
    conds = []
    if name:
        conds.append(rp.c.name == sa.bindparam("name"))
    if uuid:
        conds.append(rp.c.uuid == sa.bindparam("uuid"))
    if in_tree:
        tree = RP.alias("tree")
        conds.append(
            rp.c.root_provider_id
            == sa.select(tree.c.root_provider_id)
            .where(tree.c.uuid == sa.bindparam("in_tree"))
            .scalar_subquery()
        )
    for n in range(required):
        conds.append(
            _having_traits(rp, sa.bindparam("required_%d" % n, expanding=True))
        )
    if forbidden_traits:
        conds.append(
            ~_having_traits(
                rp, sa.bindparam("forbidden_traits", expanding=True)
            )
        )
    for n in range(member_of):
        conds.append(
            _in_aggregates(
                rp, sa.bindparam("member_of_%d" % n, expanding=True)
            )
        )
    if forbidden_aggregates:
        conds.append(
            ~_in_aggregates(
                rp, sa.bindparam("forbidden_aggregates", expanding=True)
            )
        )
    for n in range(resources):
        conds.append(
            capacity_for(
                rp.c.id,
                sa.bindparam("rc_%d" % n, type_=sa.Integer),
                sa.bindparam("amount_%d" % n, type_=sa.Integer),
            )
        )
    return query.where(*conds).order_by(rp.c.id)


@dataclasses.dataclass
class Resolved:
    """The trait and class names of ``Filters`` as ids: trait ids of each
    any-of set of ``required_traits`` and of ``forbidden_traits``, and
    (class id, amount) of each of ``resources``."""

    required: list[list[int]]
    forbidden_traits: list[int]
    resources: list[tuple[int, int]]


def resolve(conn: sa.Connection, filters: Filters) -> Resolved:
    """The ids of the names ``filters`` use; 400 naming an unknown trait,
    else an unknown class (what the listing checks, in its order)."""
    trait_ids = _trait_ids(
        conn, set().union(*filters.required_traits, filters.forbidden_traits)
    )
    resources = []
    if filters.resources:
        rc_ids = resource_classes.ids_for(conn, filters.resources)
        for rc_name, amount in filters.resources.items():
            if rc_name not in rc_ids:
                raise exceptions.BadRequest(
                    "Invalid resource class in resources parameter: No such "
                    "resource class %s." % rc_name
                )
            resources.append((rc_ids[rc_name], amount))
    return Resolved(
        required=[
            sorted(trait_ids[t] for t in any_of)
            for any_of in filters.required_traits
        ],
        forbidden_traits=sorted(
            trait_ids[t] for t in filters.forbidden_traits
        ),
        resources=resources,
    )


def list_filtered(conn: sa.Connection, filters: Filters) -> Sequence[sa.Row]:
    """The shown providers matching ``filters``, in one query (plus name to
    id look-ups for classes and traits). 400 for unknown classes or traits.
    """
    resolved = resolve(conn, filters)
    params: dict[str, Any] = {
        "name": filters.name,
        "uuid": filters.uuid,
        "in_tree": filters.in_tree,
        "forbidden_traits": resolved.forbidden_traits,
        "forbidden_aggregates": sorted(filters.forbidden_aggregates),
    }
    for n, trait_ids in enumerate(resolved.required):
        params["required_%d" % n] = trait_ids
    for n, uuids in enumerate(filters.member_of):
        params["member_of_%d" % n] = sorted(uuids)
    for n, (rc_id, amount) in enumerate(resolved.resources):
        params["rc_%d" % n] = rc_id
        params["amount_%d" % n] = amount
    shape = (
        filters.name is not None,
        filters.uuid is not None,
        filters.in_tree is not None,
        len(filters.required_traits),
        bool(filters.forbidden_traits),
        len(filters.member_of),
        bool(filters.forbidden_aggregates),
        len(filters.resources),
    )
    return conn.execute(_list_statement(shape), params).all()
