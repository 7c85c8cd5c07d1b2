"""Explaining an allocation-candidates request: which constraint removed
which providers.

``explain`` walks each request group through the constraints in order
(``resources``: an inventory of the class; ``capacity``: (total -
reserved) * allocation_ratio - used; ``min_unit``, ``max_unit``,
``step_size``; ``required`` traits, all-of and any-of; forbidden traits
(``required=!T``); ``member_of``; ``in_tree``; ``root_required``) over one
snapshot ``Version`` and counts the providers and trees left after each,
with a few of the providers each step removed and by how much they fell
short (the capacity rule is ``domain/capacity.py``'s). It then runs the
real search (``find.plan`` and ``combine.generate``) for the steps that
concern the groups together: a tree serving every group, the amounts of
all groups at once, ``same_subtree``, ``group_policy`` and ``limit``. The
last step's figures are those of GET /allocation_candidates for the same
query and version. When nothing is left, ``empty_because`` names the
first constraint that emptied the set, in one sentence.

The unsuffixed group may take each class from a different provider: its
steps follow (provider, class) pairs; a provider counts while one of its
pairs is left, and a tree while it can serve every class. A granular
group needs one provider holding everything. Trees are counted by their
root; a sharing provider (MISC_SHARES_VIA_AGGREGATE) counts for every tree
it is anchored to, as in ``find``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING
from typing import Any

import sqlalchemy as sa

from allotment.candidates import combine
from allotment.candidates import find
from allotment.domain import capacity
from allotment.domain import provider_lookup
from allotment.domain import resource_classes
from allotment.domain import traits

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable

    from allotment.candidates.find import Plan
    from allotment.candidates.groups import Flags
    from allotment.candidates.groups import Group
    from allotment.candidates.groups import Request
    from allotment.candidates.snapshot import Room
    from allotment.candidates.snapshot import Version

EXAMPLES = 3  # providers shown per step
COUNT_UP_TO = 1000  # candidates counted before the last step

# What a step says of each unit it removed (``_key``): the details of its
# shortfall, as shown in the answer.
_Why = dict[tuple[int, str | None], dict[str, Any]]
# Why nothing is left, as text and the rows to name in it (``_finish``).
_Sentence = list[str | int]


def explain(
    conn: sa.Connection,
    version: Version,
    request: Request,
    flags: Flags,
    count: int | None,
    breadth_first: bool = False,
) -> dict[str, Any]:
    """The explanation of ``request`` over ``version``; ``count`` is the
    most candidates the API would return (None: all), ``breadth_first``
    its generation strategy. Raises the 400s of GET
    /allocation_candidates, in its order."""
    plan = find.plan(conn, version, request, flags)
    ids = _Ids(conn, version, request)
    groups = [
        _GroupWalk(version, ids, request, group).run()
        for group in request.groups
    ]
    emptied = any(not g["trees"] for g in groups)
    together = _together(request, plan, count, breadth_first, emptied)
    steps = [s for g in groups for s in g["steps"]] + together
    names = provider_names(
        conn, version, {r for s in steps for r in s["_rows"]}
    )
    for step in steps:
        _finish(step, version, names)
    empty_because = None
    for group in groups:
        for step in group["steps"]:
            if empty_because is None and "sentence" in step:
                empty_because = "Nothing is left after `%s` in %s: %s." % (
                    step["constraint"],
                    group["label"],
                    step["sentence"],
                )
    for step in together:
        if empty_because is None and "sentence" in step:
            empty_because = "Nothing is left after `%s`: %s." % (
                step["constraint"],
                step["sentence"],
            )
    final = together[-1]
    return {
        "cloud": {
            "providers": version.live,
            "trees": sum(1 for r in version.rows() if version.root_of[r] == r),
        },
        "groups": groups,
        "together": together,
        "allocation_requests": final["candidates"],
        "empty_because": empty_because,
    }


class _Ids:
    """The request's names as ids: classes and traits from the database,
    aggregates from the snapshot; unknown names are simply absent (a
    trait nobody holds, an aggregate with no members)."""

    def __init__(
        self, conn: sa.Connection, version: Version, request: Request
    ) -> None:
        groups = request.groups
        self.rc = resource_classes.ids_for(
            conn, {rc for g in groups for rc in g.resources}
        )
        trait_names, agg_uuids = request.names()
        self.trait = traits.ids_for(conn, trait_names)
        self.agg = version.aggregate_ids(conn, agg_uuids)
        self.sharing = version.with_trait(version.sharing_trait(conn))


@dataclasses.dataclass
class _Unit:
    """What a step looks at: a provider (granular group) or a (provider,
    class) pair (unsuffixed group)."""

    row: int
    rc: str | None


class _GroupWalk:
    """One group's steps."""

    def __init__(
        self, version: Version, ids: _Ids, request: Request, group: Group
    ) -> None:
        self.v = version
        self.ids = ids
        self.request = request
        self.group = group
        self.granular = group.granular
        self.steps: list[dict[str, Any]] = []
        self.in_aggs: set[int] | None = None
        self.banned: set[int] = set()
        self.root_ok: Callable[[int], bool] | None = None
        self.tree_ok: set[int] | None = None  # unsuffixed required traits
        self.use_sharing = True
        self.emptied = False

    # -- counting ------------------------------------------------------

    def anchors(self, row: int) -> set[int]:
        """The trees ``row`` may serve this group in, as far as the steps
        applied so far say."""
        v = self.v
        root = v.root_of[row]
        member = self.in_aggs is None or row in self.in_aggs
        if row in self.ids.sharing and self.use_sharing and member:
            found = set(v.anchors_of(row))
        else:
            found = {root}
        if not self.granular:
            if self.in_aggs is not None and not member:
                found = {a for a in found if a in self.in_aggs}
            if self.banned:
                found = (
                    {a for a in found if a not in self.banned}
                    if row not in self.banned
                    else set()
                )
        if self.root_ok is not None:
            found = {a for a in found if self.root_ok(a)}
        if self.tree_ok is not None:
            found &= self.tree_ok
        return found

    def trees(self, units: Iterable[_Unit]) -> set[int]:
        if self.granular:
            found: set[int] = set()
            for unit in units:
                found |= self.anchors(unit.row)
            return found
        per_class: dict[str | None, set[int]] = {
            rc: set() for rc in self.group.resources
        }
        for unit in units:
            per_class[unit.rc] |= self.anchors(unit.row)
        if not per_class:
            return set()
        return set.intersection(*per_class.values())

    def record(
        self,
        constraint: str,
        before: list[_Unit],
        after: list[_Unit],
        why: _Why,
        sentence: Callable[[_Why], _Sentence],
    ) -> list[_Unit]:
        """Add the step: ``why`` maps each unit it removed (its key) to the
        details of its shortfall; ``sentence(why)`` says, as a list of
        text and rows, why nothing is left when that is so."""
        trees = self.trees(after)
        if not self.granular:
            # A provider serving a class only in trees lacking another
            # class is of no use to the group.
            kept = []
            for unit in after:
                if self.anchors(unit.row) & trees:
                    kept.append(unit)
                else:
                    why[_key(unit)] = {
                        "resource_class": unit.rc,
                        "tree": "cannot serve every class of the group",
                    }
            after = kept
        rows_before = {u.row for u in before}
        rows_after = {u.row for u in after}
        # The providers the constraint itself removed first.
        gone = sorted(
            (u for u in before if _key(u) in why),
            key=lambda u: ("tree" in why[_key(u)], u.row in rows_after, u.row),
        )
        examples = [dict(why[_key(u)], _row=u.row) for u in gone[:EXAMPLES]]
        step: dict[str, Any] = {
            "constraint": constraint,
            "providers": len(rows_after),
            "trees": len(trees),
            "eliminated": len(rows_before - rows_after),
            "examples": examples,
            "_rows": [e["_row"] for e in examples],
        }
        if not trees and not self.emptied:
            self.emptied = True
            parts = sentence(why)
            step["_sentence"] = parts
            step["_rows"] += [p for p in parts if isinstance(p, int)]
        self.steps.append(step)
        return after

    def filter(
        self,
        constraint: str,
        units: list[_Unit],
        reason: Callable[[_Unit], dict[str, Any] | None],
        sentence: Callable[[_Why], _Sentence],
    ) -> list[_Unit]:
        """The step keeping the units for which ``reason(unit)`` is None
        (else the details of what it lacked)."""
        after, why = [], {}
        for unit in units:
            detail = reason(unit)
            if detail is None:
                after.append(unit)
            else:
                why[_key(unit)] = detail
        return self.record(constraint, units, after, why, sentence)

    # -- the walk ------------------------------------------------------

    def run(self) -> dict[str, Any]:
        group = self.group
        units = self._start()
        if group.resources:
            units = self._resources(units)
            units = self._amounts(units)
        if group.required and self.granular:
            units = self._required(units)
        if group.forbidden:
            units = self._forbidden(units)
        if group.member_of or group.forbidden_aggs:
            units = self._member_of(units)
        if group.in_tree:
            units = self._in_tree(units)
        if group.required and not self.granular:
            units = self._tree_traits(units)
        if self.request.root_required or self.request.root_forbidden:
            units = self._root_required(units)
        resources = self._amount_text()
        if group.suffix:
            label = "request group %s (resources%s=%s)" % (
                group.suffix,
                group.suffix,
                resources,
            )
        else:
            label = "the unsuffixed request group (resources=%s)" % resources
        return {
            "suffix": group.suffix,
            "label": label,
            "resources": dict(group.resources),
            "providers": len({u.row for u in units}),
            "trees": len(self.trees(units)),
            "steps": self.steps,
        }

    def _start(self) -> list[_Unit]:
        v, group = self.v, self.group
        if group.resources:
            return [_Unit(r, None) for r in v.rows()]
        # A resourceless group (same_subtree) starts, as in ``find``, from
        # the holders of its first required traits, else from the members
        # of its aggregates, else from nothing.
        if group.required:
            found: set[int] = set()
            for name in group.required[0]:
                found |= v.with_trait(self.ids.trait.get(name))
            units = [_Unit(r, None) for r in sorted(found)]
        elif group.member_of:
            units = [_Unit(r, None) for r in v.rows()]
        else:
            units = []
        return self.record(
            "resources",
            [],
            units,
            {},
            lambda _why: [
                "a group without resources finds its providers by "
                "required or member_of"
            ],
        )

    def _resources(self, units: list[_Unit]) -> list[_Unit]:
        v, ids = self.v, self.ids
        wanted = {rc: ids.rc.get(rc) for rc in self.group.resources}
        after, why = [], {}
        for unit in units:
            layout = v.layout_of[unit.row]
            held = [rc for rc, rc_id in wanted.items() if rc_id in layout]
            missing = [rc for rc in wanted if rc not in held]
            if self.granular:
                if missing:
                    why[_key(unit)] = {"missing": missing}
                else:
                    after.append(unit)
            else:
                after.extend(_Unit(unit.row, rc) for rc in held)
                if not held:
                    why[_key(unit)] = {"missing": missing}

        def sentence(_why: _Why) -> _Sentence:
            if self.granular:
                return [
                    "no provider has inventories of all of %s"
                    % _and(sorted(wanted))
                ]
            absent = [
                rc
                for rc, rc_id in sorted(wanted.items())
                # (an unknown class, None, is held by none)
                if not v.by_class.get(rc_id)  # type: ignore[arg-type]
            ]
            if absent:
                return ["no provider has an inventory of %s" % _and(absent)]
            return [
                "no tree has inventories of all of %s" % _and(sorted(wanted))
            ]

        return self.record("resources", units, after, why, sentence)

    def _amounts(self, units: list[_Unit]) -> list[_Unit]:
        """The capacity step, then min_unit, max_unit and step_size: a
        unit goes at the first of its classes the constraint refuses."""
        v, ids, group = self.v, self.ids, self.group
        rooms: dict[int, dict[int, Room]] = {}

        def shortfall(
            check: Callable[[int, Room], dict[str, int] | None],
        ) -> Callable[[_Unit], dict[str, Any] | None]:
            def reason(unit: _Unit) -> dict[str, Any] | None:
                rooms_ = rooms.get(unit.row)
                if rooms_ is None:
                    rooms_ = rooms[unit.row] = v.inventory(unit.row)
                for rc in group.resources if unit.rc is None else (unit.rc,):
                    amount = group.resources[rc]
                    short = check(amount, rooms_[ids.rc[rc]])
                    if short is not None:
                        return dict(
                            {"resource_class": rc, "requested": amount},
                            **short,
                        )
                return None

            return reason

        def capacity_short(amount: int, r: Room) -> dict[str, int] | None:
            if capacity.has_room(amount, r.capacity, r.used):
                return None
            free = capacity.free(r.capacity, r.used)
            return {
                "capacity": int(r.capacity),
                "used": r.used,
                "free": free,
                "short_by": amount - free,
            }

        units = self.filter(
            "capacity",
            units,
            shortfall(capacity_short),
            functools.partial(_capacity_sentence, self),
        )
        for rule in ("min_unit", "max_unit", "step_size"):

            def unit_short(
                amount: int, r: Room, rule: str = rule
            ) -> dict[str, int] | None:
                if (
                    capacity.unit_rule_broken(
                        amount, r.min_unit, r.max_unit, r.step
                    )
                    != rule
                ):
                    return None
                limit, short = {
                    "min_unit": (r.min_unit, r.min_unit - amount),
                    "max_unit": (r.max_unit, amount - r.max_unit),
                    "step_size": (r.step, r.step - amount % r.step),
                }[rule]
                return {rule: limit, "short_by": short}

            units = self.filter(
                rule,
                units,
                shortfall(unit_short),
                functools.partial(_unit_sentence, self, rule),
            )
        return units

    def _amount_text(self) -> str:
        return ",".join(
            "%s:%d" % item for item in sorted(self.group.resources.items())
        )

    def _required(self, units: list[_Unit]) -> list[_Unit]:
        v, ids = self.v, self.ids
        need = [
            (any_of, {ids.trait.get(n) for n in any_of} - {None})
            for any_of in self.group.required
        ]

        def reason(unit: _Unit) -> dict[str, Any] | None:
            have = v.traits_of[unit.row]
            for any_of, held in need:
                if not (held & have):
                    return {"lacks": _trait_text(any_of)}
            return None

        return self.filter(
            "required",
            units,
            reason,
            lambda _why: [
                "no provider left holds %s (required%s)"
                % (_and(_trait_text(a) for a, _t in need), self.group.suffix)
            ],
        )

    def _forbidden(self, units: list[_Unit]) -> list[_Unit]:
        v, ids = self.v, self.ids
        names = {
            ids.trait[n]: n for n in self.group.forbidden if n in ids.trait
        }
        banned = set(names)

        def reason(unit: _Unit) -> dict[str, Any] | None:
            held = v.traits_of[unit.row] & banned
            if held:
                return {"holds": sorted(names[t] for t in held)}
            return None

        return self.filter(
            "forbidden",
            units,
            reason,
            lambda _why: [
                "every provider left holds %s, forbidden (required%s=!...)"
                % (_or(sorted(self.group.forbidden)), self.group.suffix)
            ],
        )

    def _member_of(self, units: list[_Unit]) -> list[_Unit]:
        v, ids, group = self.v, self.ids, self.group
        if group.member_of:
            self.in_aggs = set.intersection(
                *(
                    v.in_aggregates(ids.agg[u] for u in any_of if u in ids.agg)
                    for any_of in group.member_of
                )
            )
        self.banned = v.in_aggregates(
            ids.agg[u] for u in group.forbidden_aggs if u in ids.agg
        )
        in_aggs, banned = self.in_aggs, self.banned

        def reason(unit: _Unit) -> dict[str, Any] | None:
            row = unit.row
            if self.granular:
                # The provider itself must be a member, and not banned.
                kept = (in_aggs is None or row in in_aggs) and (
                    row not in banned
                )
            else:
                kept = bool(self.anchors(row))
            if kept:
                return None
            held = v.aggregates_of[row]
            return {
                "aggregates": sorted(
                    a for a, i in ids.agg.items() if i in held
                )
            }

        return self.filter(
            "member_of",
            units,
            reason,
            lambda _why: [
                "no provider left%s is in the aggregates asked for "
                "(member_of%s)"
                % (
                    "" if self.granular else " (or its tree's root)",
                    group.suffix,
                )
            ],
        )

    def _in_tree(self, units: list[_Unit]) -> list[_Unit]:
        v = self.v
        # (run calls this only when in_tree is set)
        row = v.id_of.get(self.group.in_tree)  # type: ignore[arg-type]
        tree = None if row is None else v.root_of[row]
        if not self.granular:
            self.use_sharing = False

        def reason(unit: _Unit) -> dict[str, Any] | None:
            root = v.root_of[unit.row]
            return None if root == tree else {"root": v.uuid_of[root]}

        return self.filter(
            "in_tree",
            units,
            reason,
            lambda _why: [
                "no provider left is in the tree of in_tree%s=%s"
                % (self.group.suffix, self.group.in_tree)
            ],
        )

    def _tree_traits(self, units: list[_Unit]) -> list[_Unit]:
        """The unsuffixed group's required traits, met by the providers
        of a tree (or sharing providers anchored to it) together."""
        v, ids = self.v, self.ids
        ok = None
        for any_of in self.group.required:
            served: set[int] = set()
            for name in any_of:
                for rp in v.with_trait(ids.trait.get(name)):
                    if rp in ids.sharing:
                        served |= v.anchors_of(rp)
                    else:
                        served.add(v.root_of[rp])
            ok = served if ok is None else ok & served
        self.tree_ok = ok
        wanted = _and(_trait_text(a) for a in self.group.required)
        return self.filter(
            "required",
            units,
            lambda unit: None if self.anchors(unit.row) else {"lacks": wanted},
            lambda _why: [
                "no tree left holds %s on its providers (required)" % wanted
            ],
        )

    def _root_required(self, units: list[_Unit]) -> list[_Unit]:
        v, ids, request = self.v, self.ids, self.request
        need = {ids.trait.get(n) for n in request.root_required}
        banned = {
            ids.trait[n] for n in request.root_forbidden if n in ids.trait
        }

        def ok(root: int) -> bool:
            have = v.traits_of[root]
            return need <= have and not (have & banned)

        self.root_ok = ok
        wanted = sorted(request.root_required) + [
            "!" + n for n in sorted(request.root_forbidden)
        ]
        return self.filter(
            "root_required",
            units,
            lambda unit: (
                None
                if self.anchors(unit.row)
                else {"root": v.uuid_of[v.root_of[unit.row]]}
            ),
            lambda _why: [
                "no tree left has a root with root_required=%s"
                % ",".join(wanted)
            ],
        )


def _key(unit: _Unit) -> tuple[int, str | None]:
    return (unit.row, unit.rc)


_UNIT_WORDS = {
    # rule: (how the amount breaks it, which limit to show, pick it by)
    "min_unit": ("is below the min_unit of", "the smallest", min),
    "max_unit": ("is above the max_unit of", "the largest", max),
    "step_size": (
        "is not a multiple of the step_size of",
        "the smallest",
        min,
    ),
}


def _unit_sentence(walk: _GroupWalk, rule: str, why: _Why) -> _Sentence:
    """A unit limit emptied the group: the amounts that broke it and the
    provider whose limit came closest."""
    broke = [(key[0], d) for key, d in why.items() if rule in d]
    amounts = sorted(
        {(d["resource_class"], d["requested"]) for _r, d in broke}
    )
    text = ",".join("%s:%d" % a for a in amounts) or walk._amount_text()
    verb, which, pick = _UNIT_WORDS[rule]
    parts: _Sentence = ["%s %s every provider with room for it" % (text, verb)]
    if broke:
        # The closest limit; on a tie, the first provider.
        best = pick(b[1][rule] for b in broke)
        row = min(b[0] for b in broke if b[1][rule] == best)
        parts += [" (%s %s is %d, on " % (which, rule, best), row, ")"]
    return parts


def _capacity_sentence(walk: _GroupWalk, why: _Why) -> _Sentence:
    """The capacity step emptied the group: the amount asked and the
    provider that came closest."""
    short = [
        (d["short_by"], key[0], d) for key, d in why.items() if "free" in d
    ]
    parts: _Sentence = [
        "no provider has %s free ((total - reserved) * allocation_ratio "
        "- used)" % walk._amount_text()
    ]
    if short:
        _short, row, d = min(short, key=lambda s: (s[0], s[1]))
        parts += [
            "; the closest, ",
            row,
            ", has %d %s free (short by %d)"
            % (d["free"], d["resource_class"], d["short_by"]),
        ]
    return parts


def _together(
    request: Request,
    plan: Plan | None,
    count: int | None,
    breadth_first: bool,
    emptied: bool,
) -> list[dict[str, Any]]:
    """The steps of all groups together, from the real search; ``emptied``:
    some group was left with nothing already (no step here says why)."""
    anchors = [] if plan is None else list(plan.problem.anchors)
    steps: list[dict[str, Any]] = [
        {"constraint": "trees", "trees": len(anchors), "_rows": []}
    ]
    if not anchors and not emptied:
        steps[0]["_sentence"] = [
            "no tree (with the sharing providers anchored to it) can serve "
            "every request group"
        ]
    base = None
    if plan is not None and anchors:
        base = dataclasses.replace(
            plan.problem, anchors=anchors, isolate=False, same_subtrees=[]
        )
    variants = [
        (
            "resources",
            base,
            "no choice of providers meets every group at once (summed "
            "amounts within capacity and max_unit, the unsuffixed group's "
            "required traits on the providers it uses)",
        )
    ]
    if request.same_subtrees and base is not None:
        # (base is set only with a plan)
        base = dataclasses.replace(
            base,
            same_subtrees=plan.problem.same_subtrees,  # type: ignore[union-attr]
        )
        variants.append(
            (
                "same_subtree",
                base,
                "no choice of providers puts the groups of same_subtree=%s "
                "under one of them"
                % "&same_subtree=".join(
                    ",".join(sorted(s)) for s in request.same_subtrees
                ),
            )
        )
    if request.group_policy == "isolate" and base is not None:
        base = dataclasses.replace(base, isolate=True)
        variants.append(
            (
                "group_policy",
                base,
                "no choice of providers gives each granular group a "
                "provider of its own (group_policy=isolate)",
            )
        )
    emptied = emptied or not anchors
    for constraint, problem, sentence in variants:
        step = _count(constraint, problem, COUNT_UP_TO)
        if not step["candidates"] and not emptied:
            emptied = True
            step["_sentence"] = [sentence]
        steps.append(step)
    final = _count("limit", base, count, breadth_first=breadth_first)
    final["limit"] = count
    steps.append(final)
    return steps


def _count(
    constraint: str,
    problem: combine.Problem | None,
    up_to: int | None,
    breadth_first: bool | None = None,
) -> dict[str, Any]:
    """The candidates of ``problem``: up to ``up_to`` of them, with the
    trees giving any; or, with ``breadth_first`` given, those the API
    returns for ``up_to`` (the distinct providers they use and the trees
    of those)."""
    step: dict[str, Any] = {
        "constraint": constraint,
        "candidates": 0,
        "trees": 0,
        "providers": 0,
        "_rows": [],
    }
    if problem is None:
        return step
    counted = 0
    used: set[int] = set()
    for choice in combine.generate(
        problem, up_to, breadth_first=bool(breadth_first)
    ):
        counted += 1
        used.update(choice)
    step["candidates"] = counted
    step["providers"] = len(used)
    if breadth_first is not None:
        step["trees"] = len({problem.roots[rp] for rp in used})
        return step
    first = combine.first(problem)
    step["trees"] = sum(
        1 for _root, options in problem.anchors if first(options) is not None
    )
    if up_to is not None and counted == up_to:
        step["at_least"] = True
    return step


def provider_names(
    conn: sa.Connection, version: Version, rows: Iterable[int]
) -> dict[int, str]:
    """row -> name of the providers at ``rows``."""
    found = provider_lookup.names_of(conn, [version.ids[row] for row in rows])
    return {
        row: found[version.ids[row]]
        for row in rows
        if version.ids[row] in found
    }


def _finish(
    step: dict[str, Any], version: Version, names: dict[int, str]
) -> None:
    """Name the providers of a step's examples and sentence."""

    def label(row: int) -> str:
        name = names.get(row)
        # (a step names providers held: a uuid is never None)
        uuid: str = version.uuid_of[row]  # type: ignore[assignment]
        return uuid if name in (None, uuid) else "%s (%s)" % (name, uuid)

    for example in step.get("examples", ()):
        row = example.pop("_row")
        example["uuid"] = version.uuid_of[row]
        example["name"] = names.get(row)
    del step["_rows"]
    parts = step.pop("_sentence", None)
    if parts is not None:
        step["sentence"] = "".join(
            label(p) if isinstance(p, int) else p for p in parts
        )


def _trait_text(any_of: Iterable[str]) -> str:
    """A required entry as the query writes it."""
    names = sorted(any_of)
    return names[0] if len(names) == 1 else "in:" + ",".join(names)


def _join(names: Iterable[str], word: str) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return "%s %s %s" % (", ".join(names[:-1]), word, names[-1])


def _and(names: Iterable[str]) -> str:
    return _join(names, "and")


def _or(names: Iterable[str]) -> str:
    return _join(names, "or")
