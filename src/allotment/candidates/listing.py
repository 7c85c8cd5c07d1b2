"""Provider reads answered from the provider snapshot: GET
/resource_providers and GET /resource_providers/{uuid}/usages.

``matching`` selects, among the rows of a snapshot version, the providers
a listing's ``domain.providers.Filters`` select; ``list_filtered`` in
domain/providers.py does it with SQL and stays the reference. Same
providers, same order (by id: rows follow ids), same 400s (the names are
resolved by the same ``providers.resolve``, first); the capacity rule is
``Version.fitting``'s, that of domain/capacity.py.

Text is compared as the database compares it: a name, provider uuid or
aggregate uuid the version does not hold exactly matches nothing where
``=`` means equal strings (SQLite, PostgreSQL); on MySQL, whose
collations ignore case and trailing spaces, such a request is answered
by the SQL instead (``matching`` answers None), as it is while some
provider has no root provider (a database before the online data
migrations: the listing leaves those out). An exact match needs no such
care: names and uuids are unique under the collation too.

A listing that looks no name up (``reads_only_the_version``) is answered
from a version found current by a plain read of the log's head
(``Snapshot.if_current``), without a transaction; so is one provider's
usage (``usage``), which is otherwise read with SQL (one statement, no
refresh: cheaper than bringing the version up to date).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from typing import cast

import sqlalchemy as sa

from allotment.domain import providers
from allotment.domain import resource_classes
from allotment.storage import engine

if TYPE_CHECKING:
    from allotment.candidates.snapshot import Version


class _Missed(Exception):
    """A name or uuid looked up is not held (exactly)."""


def matching(
    conn: sa.Connection, version: Version, filters: providers.Filters
) -> list[int] | None:
    """The rows of the providers ``filters`` select, in id order; None
    when the SQL must answer instead (see the module's docstring)."""
    resolved = providers.resolve(conn, filters)
    if version.rootless:
        return None
    exact = engine.compares_text_exactly(conn)
    try:
        return _rows(conn, version, filters, resolved, exact)
    except _Missed:
        return [] if exact else None


def reads_only_the_version(filters: providers.Filters) -> bool:
    """True when ``matching`` reads nothing from the database for
    ``filters`` but the version (no trait or aggregate names to look up,
    only standard classes already cached): the answer is then that of the
    moment the version was found current (``Snapshot.if_current``), and
    needs no transaction."""
    return not (
        filters.required_traits
        or filters.forbidden_traits
        or filters.member_of
        or filters.forbidden_aggregates
    ) and resource_classes.cached(filters.resources)


def usage(
    version: Version, uuid: str
) -> tuple[int | None, list[tuple[int, int]]] | None:
    """``(generation, [(class id, amount used), ...])`` of the provider
    ``uuid``, a class for each of its inventories in class id order (as
    ``domain.usages.of_provider`` reads them); None when the version does
    not hold that exact uuid (the SQL then answers: a 404, or on MySQL a
    uuid its collation equates with one held)."""
    row = version.id_of.get(uuid)
    if row is None:
        return None
    used = version.used
    return version.generation_of[row], [
        (rc_id, used[at]) for rc_id, at in version.positions(row)
    ]


def _rows(
    conn: sa.Connection,
    version: Version,
    filters: providers.Filters,
    resolved: providers.Resolved,
    exact: bool,
) -> list[int]:
    found: set[int] | None = None  # None: every provider
    if filters.uuid is not None:
        found = {_provider(version, filters.uuid)}
    if filters.in_tree is not None:
        root = version.root_of[_provider(version, filters.in_tree)]
        found = _narrow(found, version.tree(root))
    if filters.name is not None:
        try:
            found = _narrow(found, (version.name_of.index(filters.name),))
        except ValueError:
            raise _Missed() from None
    wanted = set().union(*filters.member_of, filters.forbidden_aggregates)
    aggregates = version.aggregate_ids(conn, wanted) if wanted else {}
    if len(aggregates) < len(wanted) and not exact:
        raise _Missed()
    for any_of in filters.member_of:
        found = _narrow(
            found, version.in_aggregates(_known(aggregates, any_of))
        )
    for trait_ids in resolved.required:
        found = _narrow(found, version.with_any_trait(trait_ids))
    for rc_id, amount in resolved.resources:
        if found is None:
            found = set(version.fitting(rc_id, amount))
        else:  # with a scope, a new set
            found = cast("set[int]", version.fitting(rc_id, amount, found))
    banned = version.in_aggregates(
        _known(aggregates, filters.forbidden_aggregates)
    )
    banned |= version.with_any_trait(resolved.forbidden_traits)
    if found is None:
        return [row for row in version.rows() if row not in banned]
    return sorted(found - banned)


def _provider(version: Version, uuid: str) -> int:
    row = version.id_of.get(uuid)
    if row is None:
        raise _Missed()
    return row


def _known(aggregates: dict[str, int], uuids: Iterable[str]) -> list[int]:
    """The ids of those of ``uuids`` that are known aggregates."""
    return [aggregates[u] for u in uuids if u in aggregates]


def _narrow(found: set[int] | None, rows: Iterable[int]) -> set[int]:
    if found is None:
        return set(rows)
    found.intersection_update(rows)
    return found
