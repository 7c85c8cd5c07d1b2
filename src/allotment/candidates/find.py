"""Planning allocation candidates from the provider snapshot.

``plan`` resolves a parsed request: names to ids (classes and traits from
the database, aggregates and in_tree providers from the snapshot),
then, from the ``snapshot``, the providers with room for each requested
amount, holding the relevant traits and aggregates, and the trees sharing
providers are anchored to. From those it builds, per slot and per anchor
tree, the providers that may serve it (``combine.Problem``), applying the
reference's rules:

- a granular group is served by one provider holding all its classes,
  traits (individually) and aggregates; a provider with
  MISC_SHARES_VIA_AGGREGATE also serves the trees sharing an aggregate
  with it;
- the unsuffixed group takes each class from one provider of the tree, or
  from a sharing provider anchored to it; member_of is met when the
  provider or the tree's root is in the aggregates; required traits are
  checked on all its providers together (in ``combine``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from itertools import filterfalse
from typing import TYPE_CHECKING
from typing import TypedDict

import sqlalchemy as sa

from allotment import exceptions
from allotment.candidates import combine
from allotment.domain import resource_classes
from allotment.domain import traits

if TYPE_CHECKING:
    from allotment.candidates.groups import Flags
    from allotment.candidates.groups import Group
    from allotment.candidates.groups import Request
    from allotment.candidates.snapshot import Version


# The ancestor sets of the providers, kept with the parent list of the
# snapshot versions that share it (a version copies the list before it
# changes a parent, and never changes a published one): a same_subtree
# request asks them of thousands of providers.
_ancestries: tuple[list[int | None], dict[int, set[int]]] = ([], {})


def _ancestry(parents: list[int | None]) -> dict[int, set[int]]:
    global _ancestries
    held, ancestry = _ancestries
    if held is not parents:
        ancestry = {}
        _ancestries = (parents, ancestry)
    return ancestry


class NoCandidates(Exception):
    """Some group can be satisfied nowhere: the answer is empty."""


@dataclasses.dataclass
class Plan:
    """A request resolved: the search problem plus what rendering needs."""

    problem: combine.Problem
    uuids: combine.ByProvider[str]
    roots: combine.ByProvider[int]
    rc_names: dict[int, str]
    requested_rc_ids: set[int]


class _Resolved(TypedDict):
    """One group's filters as ids (``_Planner._resolve``)."""

    in_aggs: set[int] | None  # None: no member_of
    banned_aggs: set[int]
    required: list[frozenset[int]]
    forbidden: set[int]
    tree: int | None  # the in_tree provider's root
    with_room: dict[str, AbstractSet[int]]  # class -> providers with room


def plan(
    conn: sa.Connection, snap: Version, request: Request, flags: Flags
) -> Plan | None:
    """The Plan for ``request`` (a groups.Request) over the refreshed
    snapshot ``snap`` with ``flags`` (groups.Flags), or None when nothing
    can match.

    Raises 400 for unknown classes or traits, in the reference's order.
    """
    try:
        return _Planner(conn, snap, request, flags).run()
    except NoCandidates:
        return None


class _AnchorOptions:
    """anchor root -> the providers (ascending) of one slot: ``own``,
    providers serving their own tree (but those ``left_out``), and
    ``sharing``, sharing providers (ascending) serving every root they are
    anchored to except those in ``banned``. A list is made only for an
    anchor the search reaches (a limited answer reaches few), and the
    anchors are not copied into a set of their own: ``own`` is often a
    version's kept rows with room, thousands of them, of which a claim
    asks for ten.
    """

    __slots__ = ("_left_out", "_own", "_roots", "_served", "_sharing", "_snap")

    def __init__(
        self,
        snap: Version,
        own: AbstractSet[int],
        sharing: list[int],
        banned: AbstractSet[int] = frozenset(),
        left_out: AbstractSet[int] = frozenset(),
    ) -> None:
        self._snap = snap
        self._own = own
        self._left_out = left_out
        self._sharing = sharing
        # The roots of own's trees; None: own itself (every provider is a
        # root).
        self._roots: set[int] | None = None
        if snap.nested:
            self._roots = set(map(snap.root_of.__getitem__, self._kept(own)))
        self._served: AbstractSet[int] = frozenset()
        if sharing:
            served = set().union(*map(snap.anchors_of, sharing))
            if banned:
                served -= banned
            self._served = served

    def _kept(self, rps: Iterable[int]) -> Iterator[int]:
        """Those of ``rps`` not left out (filtered at C speed: this runs
        over own's thousands of rows, and for every anchor searched)."""
        left_out = self._left_out
        return (
            filterfalse(left_out.__contains__, rps) if left_out else iter(rps)
        )

    def _owns(self, rp: int) -> bool:
        return rp in self._own and rp not in self._left_out

    def __contains__(self, root: int) -> bool:
        """Whether ``root`` is an anchor."""
        roots = self._roots
        return (
            self._owns(root) if roots is None else root in roots
        ) or root in self._served

    def __bool__(self) -> bool:
        if self._served:
            return True
        if self._roots is not None:
            return bool(self._roots)
        return next(self._kept(self._own), None) is not None

    def __len__(self) -> int:
        """About how many anchors (at least as many; to pick the slot to
        walk)."""
        roots = self._own if self._roots is None else self._roots
        return len(roots) + len(self._served)

    def ascending(self) -> Iterator[int]:
        """The anchors in ascending order, found as they are asked for:
        when they are many, rows are walked in order and the walk stops
        when the caller does."""
        rows = len(self._snap.root_of)
        if len(self) * 8 > rows:
            return filter(self.__contains__, range(rows))
        roots = self._roots
        if roots is None:
            roots = set(self._kept(self._own))
        return iter(sorted(roots.union(self._served)))

    def __getitem__(self, root: int) -> list[int]:
        members = self._snap.trees.get(root)
        if members is None:
            found = [root] if self._owns(root) else []
        else:
            found = sorted(self._kept(filter(self._own.__contains__, members)))
        if self._sharing:
            anchors_of = self._snap.anchors_of
            shared = [rp for rp in self._sharing if root in anchors_of(rp)]
            if shared:
                found = sorted(found + shared)
        return found


class _Planner:
    def __init__(
        self,
        conn: sa.Connection,
        snap: Version,
        request: Request,
        flags: Flags,
    ) -> None:
        self.conn = conn
        self.snap = snap
        self.request = request
        self.flags = flags
        self.sharing: set[int] = set()
        self.anchor_ok: Callable[[int], bool] | None = None

    def run(self) -> Plan:
        groups = self.request.groups
        trait_names, agg_uuids = self.request.names()
        trait_ids = traits.ids_for(self.conn, trait_names)
        self.anchor_ok = self._anchor_filter(trait_ids)
        rc_ids = resource_classes.ids_for(
            self.conn, {rc for g in groups for rc in g.resources}
        )
        agg_ids = self.snap.aggregate_ids(self.conn, agg_uuids)
        self.sharing = self.snap.with_trait(self.snap.sharing_trait(self.conn))

        slots, slot_options = [], []
        required_ids = []
        for group in groups:
            resolved = self._resolve(group, rc_ids, trait_ids, agg_ids)
            if group.granular:
                options = self._granular_options(group, resolved)
                slots.append(
                    combine.Slot(
                        group.suffix,
                        True,
                        tuple(
                            (rc_ids[n], a) for n, a in group.resources.items()
                        ),
                    )
                )
                slot_options.append(options)
            else:
                required_ids = resolved["required"]
                for name, amount in group.resources.items():
                    slots.append(
                        combine.Slot("", False, ((rc_ids[name], amount),))
                    )
                    slot_options.append(
                        self._unsuffixed_options(resolved, name)
                    )
        return self._build(slots, slot_options, required_ids, rc_ids)

    def _traits(self, rp: int) -> frozenset[int]:
        return self.snap.traits_of[rp]

    def _anchor_filter(
        self, trait_ids: dict[str, int]
    ) -> Callable[[int], bool] | None:
        """A predicate on roots for root_required (None: any root)."""
        required = self.request.root_required
        forbidden = self.request.root_forbidden
        if not (required or forbidden):
            return None
        for name in sorted(required | forbidden):
            if name not in trait_ids:
                raise exceptions.BadRequest("No such trait(s): %s." % name)
        need = {trait_ids[n] for n in required}
        banned = {trait_ids[n] for n in forbidden}
        snap = self.snap

        def ok(root: int) -> bool:
            have = self._traits(root)
            return need <= have and not (have & banned)

        if need:
            holders = set.intersection(*(snap.with_trait(t) for t in need))
            if not any(
                snap.parent_of[rp] is None and ok(rp) for rp in holders
            ):
                raise NoCandidates()
        return ok

    def _resolve(
        self,
        group: Group,
        rc_ids: dict[str, int],
        trait_ids: dict[str, int],
        agg_ids: dict[str, int],
    ) -> _Resolved:
        """Check one group as the reference does, in its order; return
        its filters as ids and the providers with room per class."""
        snap = self.snap
        for name in group.resources:
            if name not in rc_ids:
                raise exceptions.BadRequest(
                    "Invalid resource class in resources parameter: No such "
                    "resource class %s." % name
                )
        in_aggs = None
        if group.member_of:
            in_aggs = set.intersection(
                *(
                    snap.in_aggregates(
                        agg_ids[u] for u in any_of if u in agg_ids
                    )
                    for any_of in group.member_of
                )
            )
            if not in_aggs:
                raise NoCandidates()
        for names in [*group.required, group.forbidden]:
            for name in sorted(names):
                if name not in trait_ids:
                    raise exceptions.BadRequest("No such trait(s): %s." % name)
        tree = None
        if group.in_tree:
            rp = snap.id_of.get(group.in_tree)
            if rp is None:
                raise NoCandidates()
            tree = snap.root_of[rp]
        scope = self._scope(group, in_aggs, tree)
        with_room: dict[str, AbstractSet[int]] = {}
        for name, amount in group.resources.items():
            fit = snap.fitting(rc_ids[name], amount, scope)
            if not fit:
                raise NoCandidates()
            with_room[name] = fit
        banned_aggs = snap.in_aggregates(
            agg_ids[u] for u in group.forbidden_aggs if u in agg_ids
        )
        return {
            "in_aggs": in_aggs,
            "banned_aggs": banned_aggs,
            "required": [
                frozenset(trait_ids[n] for n in any_of)
                for any_of in group.required
            ],
            "forbidden": {trait_ids[n] for n in group.forbidden},
            "tree": tree,
            "with_room": with_room,
        }

    def _scope(
        self, group: Group, in_aggs: set[int] | None, tree: int | None
    ) -> set[int] | None:
        """The only providers that may serve ``group`` given its in_tree
        and member_of (None: any): the tree; the members of the aggregates,
        and for the unsuffixed group the trees whose root is a member."""
        snap = self.snap
        scope = None if tree is None else snap.tree(tree)
        if in_aggs is not None:
            found = set(in_aggs)
            if not group.granular:
                # (C-level: thousands of members at cloud scale)
                found.update(*filter(None, map(snap.trees.get, in_aggs)))
            scope = found if scope is None else found & scope
        return scope

    def _granular_options(
        self, group: Group, resolved: _Resolved
    ) -> _AnchorOptions:
        """anchor root -> providers able to serve the granular group (an
        ``_AnchorOptions``), found with set operations."""
        snap = self.snap
        required, forbidden = resolved["required"], resolved["forbidden"]
        in_aggs = resolved["in_aggs"]
        if group.resources:
            first, *rooms = resolved["with_room"].values()
            found = set(first).intersection(*rooms)
        elif required:
            found = snap.with_any_trait(required[0])
        elif in_aggs is not None:
            found = set(in_aggs)
        else:
            found = set()
        for any_of in required:
            found &= snap.with_any_trait(any_of)
        if in_aggs is not None:
            found &= in_aggs
        found -= resolved["banned_aggs"]
        found -= snap.with_any_trait(forbidden)
        sharing = sorted(found & self.sharing)
        found.difference_update(sharing)
        options = _AnchorOptions(snap, found, sharing)
        if not options:
            raise NoCandidates()
        return options

    def _unsuffixed_options(
        self, resolved: _Resolved, name: str
    ) -> _AnchorOptions:
        """anchor root -> providers able to give the unsuffixed group its
        amount of the class ``name`` (an ``_AnchorOptions``: the anchors
        are known at once, each anchor's providers are listed when the
        search reaches it)."""
        in_aggs, banned = resolved["in_aggs"], resolved["banned_aggs"]
        snap = self.snap
        root_of = snap.root_of
        rooms = resolved["with_room"][name]  # kept by the version: not changed
        if resolved["forbidden"]:
            rooms = rooms - snap.with_any_trait(resolved["forbidden"])
        sharing: list[int] = []
        left_out: set[int] = set()
        if resolved["tree"] is None and self.sharing:
            # A sharing provider (one in the aggregates, under member_of)
            # serves every tree it is anchored to; others only their own.
            serving = [
                rp
                for rp in sorted(rooms & self.sharing)
                if in_aggs is None or rp in in_aggs
            ]
            if serving:
                left_out = set(serving)  # serving as sharing providers
                sharing = [
                    rp for rp in serving if not (banned and rp in banned)
                ]
        # (member_of's aggregates and in_tree were the scope of rooms)
        if banned:
            rooms = {
                rp
                for rp in rooms
                if rp not in banned
                and root_of[rp] not in banned
                and rp not in left_out
            }
            left_out = set()
        options = _AnchorOptions(snap, rooms, sharing, banned, left_out)
        if not options:
            raise NoCandidates()
        return options

    def _served(self, required_ids: list[frozenset[int]]) -> list[set[int]]:
        """For each any-of set of the unsuffixed group's required traits,
        the anchors that may meet it: a tree holding one of them or served
        by a sharing provider holding one (``combine`` checks exactly)."""
        snap = self.snap
        found = []
        for any_of in required_ids:
            holders = snap.with_any_trait(any_of)
            found.append(
                set().union(
                    snap.roots_of(holders),
                    *(snap.anchors_of(rp) for rp in holders & self.sharing),
                )
            )
        return found

    def _build(
        self,
        slots: list[combine.Slot],
        slot_options: list[_AnchorOptions],
        required_ids: list[frozenset[int]],
        rc_ids: dict[str, int],
    ) -> Plan:
        snap = self.snap
        # The anchors, ascending, that every slot and filter accepts, found
        # as the search asks for them: a limited answer looks at few.
        first, *others = sorted(slot_options, key=len)
        checks: list[Callable[[int], bool]] = [o.__contains__ for o in others]
        checks += [s.__contains__ for s in self._served(required_ids)]
        if self.anchor_ok is not None:
            checks.append(self.anchor_ok)
        anchor_lists = (
            (root, [o[root] for o in slot_options])
            for root in first.ascending()
            if all(check(root) for check in checks)
        )
        suffix_slot = {s.suffix: i for i, s in enumerate(slots) if s.granular}
        same_subtrees = [
            tuple(suffix_slot[s] for s in sorted(members))
            for members in self.request.same_subtrees
        ]
        one_per_tree = self.flags.one_per_tree and snap.nested > 0
        shared = frozenset(
            rp for rp in self.sharing if len(snap.anchors_of(rp)) > 1
        )
        problem = combine.Problem(
            slots=slots,
            anchors=anchor_lists,
            headroom=snap.headrooms(),
            isolate=self.request.group_policy == "isolate",
            same_subtrees=same_subtrees,
            parents=snap.parent_of,
            ancestry=_ancestry(snap.parent_of),
            required=required_ids,
            traits=snap.traits_of,
            one_per_tree=one_per_tree,
            roots=snap.root_of,
            shared=shared,
            options_fit=True,  # (they come from the rows with room)
        )
        return Plan(
            problem=problem,
            # The rows of a plan hold providers: none is None.
            uuids=snap.uuid_of,  # type: ignore[arg-type]
            roots=snap.root_of,
            rc_names={v: k for k, v in rc_ids.items()},
            requested_rc_ids=set(rc_ids.values()),
        )
