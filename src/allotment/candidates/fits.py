"""How many more times an allocation-candidates request fits the cloud.

``count`` answers, for a parsed request over one snapshot ``Version``, how
many claims of it would succeed if the cloud were filled one claim at a
time (a request for candidates, the first one claimed, again until none
is left), per root provider (the tree a claim is anchored to) and in all.
It plans with ``find.plan`` (the same 400s, the same providers) and
counts each tree in the order the API offers them:

- when the claims of one tree cannot interfere (the request is the
  unsuffixed group alone, without required traits; or one granular group),
  and no provider serves several trees, each inventory gives
  ``capacity.claims`` claims (``domain/capacity.py``), the tree the least
  over its slots of their sums;
- otherwise the fill is simulated: ``combine.generate`` gives the first
  candidate of the tree over the capacity left, which is claimed, until
  none is left. A tree sharing a provider with others is counted after
  the trees before it have taken their share. At most ``SIMULATE_UP_TO``
  claims are simulated; beyond, the answer says ``exact: false``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import overload

import sqlalchemy as sa

from allotment.candidates import combine
from allotment.candidates import explain
from allotment.candidates import find
from allotment.domain import capacity
from allotment.storage import tables

if TYPE_CHECKING:
    from allotment.candidates.groups import Flags
    from allotment.candidates.groups import Request
    from allotment.candidates.snapshot import Room
    from allotment.candidates.snapshot import Version

SIMULATE_UP_TO = 100_000

_T = TypeVar("_T")

AGG = tables.placement_aggregates


@dataclasses.dataclass
class Fits:
    """``per_root``: root row -> claims; ``exact``: False when the
    simulation stopped at ``SIMULATE_UP_TO``."""

    per_root: dict[int, int]
    exact: bool = True

    @property
    def total(self) -> int:
        return sum(self.per_root.values())


def count(
    conn: sa.Connection, version: Version, request: Request, flags: Flags
) -> Fits:
    """How many more claims of ``request`` fit, per root row. Raises the
    400s of GET /allocation_candidates."""
    plan = find.plan(conn, version, request, flags)
    if plan is None:
        return Fits({})
    anchors = list(plan.problem.anchors)
    left = _Left(version)
    # The claims simulated take room: options found with room may no
    # longer fit, so the search counts it again.
    problem = dataclasses.replace(
        plan.problem, anchors=anchors, headroom=left, options_fit=False
    )
    fits = Fits({})
    independent = _independent(problem, anchors)
    budget = SIMULATE_UP_TO
    first = combine.first(problem)
    for root, options in anchors:
        if independent:
            found = _closed_form(version, problem, options)
        else:
            found, budget = _simulate(problem, left, first, options, budget)
            if budget <= 0:
                fits.exact = False
        if found:
            fits.per_root[root] = found
        if not fits.exact:
            break
    return fits


def _independent(
    problem: combine.Problem, anchors: list[tuple[int, list[list[int]]]]
) -> bool:
    """True when each tree's claims take from inventories no other claim
    of another slot or tree touches, so that they can be counted apart."""
    slots = problem.slots
    shared = problem.shared
    if shared and any(
        rp in shared for _root, options in anchors for o in options for rp in o
    ):
        return False
    if len(slots) == 1 and slots[0].granular:
        return True
    return (
        not any(s.granular for s in slots)
        and not problem.required
        and not problem.one_per_tree
    )


def _closed_form(
    version: Version, problem: combine.Problem, options: list[list[int]]
) -> int:
    counts = []
    for slot, providers in zip(problem.slots, options, strict=True):
        total = 0
        for rp in providers:
            rooms = version.inventory(rp)
            total += min(
                _claims(rooms[rc_id], amount) for rc_id, amount in slot.demands
            )
        counts.append(total)
    return min(counts) if counts else 0


def _claims(room: Room, amount: int) -> int:
    return capacity.claims(
        amount,
        room.capacity,
        room.used,
        room.min_unit,
        room.max_unit,
        room.step,
    )


def _simulate(
    problem: combine.Problem,
    left: _Left,
    first: Callable[[list[list[int]]], tuple[int, ...] | None],
    options: list[list[int]],
    budget: int,
) -> tuple[int, int]:
    """Claims from one anchor's ``options`` until none is left (or the
    ``budget`` of claims is spent): (claims, budget left)."""
    found = 0
    while budget > 0:
        choice = first(options)
        if choice is None:
            break
        for slot, rp in zip(problem.slots, choice, strict=True):
            for rc_id, amount in slot.demands:
                left.take(rp, rc_id, amount)
        found += 1
        budget -= 1
    return found, budget


class _Left:
    """The ``headroom`` mapping of the search (``snapshot._Headrooms``)
    over the capacity the simulated claims left."""

    def __init__(self, version: Version) -> None:
        self.version = version
        self.headroom = version.headrooms()
        self.taken: dict[tuple[int, int], int] = {}

    def take(self, rp: int, rc_id: int, amount: int) -> None:
        self.taken[rp, rc_id] = self.taken.get((rp, rc_id), 0) + amount

    @overload
    def get(self, key: tuple[int, int]) -> int | None: ...
    @overload
    def get(self, key: tuple[int, int], default: _T) -> int | _T: ...
    def get(
        self, key: tuple[int, int], default: _T | None = None
    ) -> int | _T | None:
        taken = self.taken.get(key)
        if taken is None:
            return self.headroom.get(key, default)
        room = self.version.inventory(key[0])[key[1]]
        return capacity.headroom(
            room.capacity, room.used + taken, room.max_unit
        )


def answer(
    conn: sa.Connection, version: Version, fits: Fits, by_aggregate: bool
) -> dict[str, Any]:
    """The JSON answer: ``total``, ``exact``, ``roots`` (uuid, name,
    fits; most first) and, ``by_aggregate``, ``aggregates`` (uuid, fits,
    roots: the sums over the root providers in each aggregate)."""
    rows = sorted(fits.per_root)
    names = explain.provider_names(conn, version, rows)
    ordered = sorted(
        rows,
        key=lambda row: (
            -fits.per_root[row],
            names.get(row) or "",
            version.uuid_of[row],
        ),
    )
    roots = [
        {
            "uuid": version.uuid_of[row],
            "name": names.get(row),
            "fits": fits.per_root[row],
        }
        for row in ordered
    ]
    result: dict[str, Any] = {
        "total": fits.total,
        "exact": fits.exact,
        "roots": roots,
    }
    if by_aggregate:
        sums: dict[int, list[int]] = {}
        outside = 0
        for row in rows:
            aggregates = version.aggregates_of[row]
            if not aggregates:
                outside += fits.per_root[row]
            for agg_id in aggregates:
                entry = sums.setdefault(agg_id, [0, 0])
                entry[0] += fits.per_root[row]
                entry[1] += 1
        uuids = (
            dict(
                conn.execute(
                    sa.select(AGG.c.id, AGG.c.uuid).where(
                        AGG.c.id.in_(list(sums))
                    )
                ).all()
            )
            if sums
            else {}
        )
        result["aggregates"] = sorted(
            (
                {"uuid": uuids[agg_id], "fits": total, "roots": count_}
                for agg_id, (total, count_) in sums.items()
            ),
            key=lambda a: (-a["fits"], a["uuid"]),
        )
        result["outside_aggregates"] = outside
    return result
