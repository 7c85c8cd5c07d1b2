"""Combining request groups into allocation candidates, tree by tree.

Pure Python over plain data. A request is a list of *slots*: one per
resource class of the unsuffixed group (each class comes from a single
provider, different classes may come from different providers of the tree)
and one per granular group (all of its classes from one provider). For each
anchor (a root provider whose tree, plus the sharing providers anchored to
it, may satisfy every slot) a depth-first search picks a provider per slot,
tracking the capacity left on each (provider, class) and rejecting a
partial choice as soon as it breaks a rule: capacity or max_unit of the
summed amounts, group_policy=isolate, same_subtree, the unsuffixed group's
required traits (collectively over its providers) and, below microversion
1.29, one provider per tree. Work therefore follows the number of valid
candidates produced, and generation stops as soon as ``count`` exist. A
tree offering a single provider per slot is checked whole instead, and a
request made of the unsuffixed group alone is the product of each class's
providers with room, less the choices lacking required traits.

A candidate is the tuple of chosen providers in slot order: it fixes both
the allocations and the mappings, so distinct tuples of one anchor are
distinct candidates. The same tuple can only come again from another anchor
when every provider in it is anchored to several trees (sharing providers);
those few are de-duplicated with a set.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import random
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Protocol
from typing import TypeVar

_SMALL = 8  # candidate combinations below which a tree is searched directly

_T_co = TypeVar("_T_co", covariant=True)
# A provider's option for a slot: (provider, (((provider, class), amount),
# ...)), what choosing it takes from each inventory.
_Deltas = tuple[tuple[tuple[int, int], int], ...]
_Option = tuple[int, _Deltas]
_NOTHING: _Deltas = ()  # the deltas of an option whose room is not counted


class Headroom(Protocol):
    """What the search reads of ``Problem.headroom``: a dict, or a mapping
    read from a snapshot version (``snapshot._Headrooms``)."""

    def get(self, key: tuple[int, int], default: int, /) -> int: ...


class ByProvider(Protocol[_T_co]):
    """provider -> value: a dict, or a snapshot version's column (a list
    indexed by row)."""

    def __getitem__(self, rp: int, /) -> _T_co: ...


@dataclasses.dataclass(frozen=True)
class Slot:
    """What one provider must give: ``demands`` is ((class, amount), ...)."""

    suffix: str
    granular: bool
    demands: tuple[tuple[int, int], ...] = ()


@dataclasses.dataclass
class Problem:
    """Everything the search needs.

    ``anchors`` yields (root id, options) with options[i] the provider ids
    that may serve slot i in that anchor's tree. ``headroom`` maps
    (provider, class) to the largest total the candidate may take from it
    (capacity left, capped by max_unit). ``same_subtrees`` lists tuples of
    slot indexes whose providers must all sit under one of them;
    ``parents`` maps every provider to its parent (None for a root) for
    that check. ``required`` are the unsuffixed group's any-of trait sets,
    checked against the union of ``traits`` (every provider's set) of its
    providers. ``one_per_tree`` (old microversions) lets
    a candidate use at most one provider of each tree (``roots``).
    ``shared`` are the providers that may appear under several anchors.
    ``ancestry`` caches what ``parents`` says of each provider's line.
    ``options_fit`` says that every option has room for its slot's demands
    on its own (find's options do), so the search counts room only where
    two slots ask for the same class.
    """

    slots: list[Slot]
    anchors: Iterable[tuple[int, list[list[int]]]]
    headroom: Headroom
    isolate: bool = False
    same_subtrees: list[tuple[int, ...]] = dataclasses.field(
        default_factory=list
    )
    parents: ByProvider[int | None] = dataclasses.field(default_factory=dict)
    required: list[frozenset[int]] = dataclasses.field(default_factory=list)
    traits: ByProvider[frozenset[int]] = dataclasses.field(
        default_factory=dict
    )
    one_per_tree: bool = False
    roots: ByProvider[int] = dataclasses.field(default_factory=dict)
    shared: frozenset[int] = frozenset()
    options_fit: bool = False
    # Each provider's ancestors (and itself), filled as the same_subtree
    # check asks: the caller may keep one for as long as ``parents`` holds.
    ancestry: dict[int, set[int]] = dataclasses.field(default_factory=dict)


def generate(
    problem: Problem,
    count: int | None = None,
    breadth_first: bool = False,
    rng: random.Random | None = None,
) -> Iterator[tuple[int, ...]]:
    """Yield candidates (tuples of provider ids in slot order).

    At most ``count`` (None: all). ``breadth_first`` takes one candidate
    from each anchor in turn; ``rng`` (a random.Random) shuffles anchors
    and choices for randomized answers.
    """
    if count is not None and count <= 0:
        return
    searcher = _Searcher(problem)
    anchors = problem.anchors
    if rng is not None or breadth_first:
        listed = list(anchors)
        if rng is not None:
            rng.shuffle(listed)
        anchors = listed
    streams = (searcher.search(options, rng) for _root, options in anchors)
    if breadth_first:
        stream = _round_robin(list(streams))
    else:
        stream = itertools.chain.from_iterable(streams)
    shared = problem.shared
    if not shared:
        yield from itertools.islice(stream, count)
        return
    # A choice of sharing providers only can come from several anchors:
    # the first one gives it.
    seen: set[tuple[int, ...]] = set()
    produced = 0
    for choice in stream:
        if shared.issuperset(choice):
            if choice in seen:
                continue
            seen.add(choice)
        yield choice
        produced += 1
        if produced == count:
            return


def first(
    problem: Problem,
) -> Callable[[list[list[int]]], tuple[int, ...] | None]:
    """A function giving the first candidate of one anchor's options (or
    None), searched with ``problem.headroom`` as it is at the call."""
    searcher = _Searcher(problem)

    def first_of(options: list[list[int]]) -> tuple[int, ...] | None:
        return next(searcher.search(options), None)

    return first_of


def _round_robin(
    iterators: list[Iterator[tuple[int, ...]]],
) -> Iterator[tuple[int, ...]]:
    while iterators:
        alive = []
        for it in iterators:
            for item in it:
                yield item
                alive.append(it)
                break
        iterators = alive


class _Searcher:
    """The per-anchor depth-first search, with the problem's fixed parts
    precomputed once."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        slots = problem.slots
        # Unsuffixed slots first: they share providers and traits.
        self.order = sorted(
            range(len(slots)), key=lambda i: (slots[i].granular, i)
        )
        position = {slot: pos for pos, slot in enumerate(self.order)}
        n = len(slots)
        self.isolate_at = [
            problem.isolate and slots[i].granular for i in self.order
        ]
        unsuffixed = [
            pos for pos, i in enumerate(self.order) if not slots[i].granular
        ]
        self.trait_at = -1
        if problem.required and unsuffixed:
            self.trait_at = unsuffixed[-1]
        self.unsuffixed = unsuffixed
        self.subtree_at: list[list[list[int]]] = [[] for _ in range(n)]
        for members in problem.same_subtrees:
            positions = sorted(position[i] for i in members)
            self.subtree_at[positions[-1]].append(positions)
        self.tree_at = [
            problem.one_per_tree and bool(slots[i].demands) for i in self.order
        ]
        self.granular_count = sum(1 for s in slots if s.granular)
        self._ancestors = problem.ancestry
        self.demands = [slots[i].demands for i in self.order]
        back = [0] * n
        for pos, i in enumerate(self.order):
            back[i] = pos
        self.in_slot_order: Callable[[list[int]], tuple[int, ...]] = (
            tuple if n == 1 else operator.itemgetter(*back)
        )
        # Room is counted (what a choice takes, subtracted from what the
        # next may take) unless each option fits on its own and no class
        # is asked by two slots: then no choice can take room another
        # needs.
        classes = [rc for slot in slots for rc, _amount in slot.demands]
        self.counting = not problem.options_fit or len(classes) > len(
            set(classes)
        )
        # Only unsuffixed slots (one class each): every combination of
        # providers with room that holds the required traits is a candidate.
        self.independent = not (
            any(s.granular for s in slots) or problem.one_per_tree
        )

    def ancestors(self, rp: int) -> set[int]:
        found = self._ancestors.get(rp)
        if found is None:
            found = {rp}
            parent = self.p.parents[rp]
            while parent is not None:
                found.add(parent)
                parent = self.p.parents[parent]
            self._ancestors[rp] = found
        return found

    def _subtrees_ok(
        self, choice: Sequence[int], groups: Iterable[Sequence[int]]
    ) -> bool:
        for group in groups:
            if not self._same_subtree([choice[q] for q in group]):
                return False
        return True

    def _same_subtree(self, rps: Iterable[int]) -> bool:
        """True when one of ``rps`` is an ancestor (or self) of all: only
        the highest of them can be."""
        known = self._ancestors
        lines = []
        top = highest = None
        for rp in rps:
            line = known.get(rp) or self.ancestors(rp)
            lines.append(line)
            if highest is None or len(line) < len(highest):
                top, highest = rp, line
        # A loop, not all() over a generator: this runs for every partial
        # choice of a same_subtree search.
        for line in lines:  # noqa: SIM110
            if top not in line:
                return False
        return True

    def _traits_ok(self, rps: Iterable[int]) -> bool:
        traits = self.p.traits
        have: set[int] = set()
        for rp in rps:
            have |= traits[rp]
        return all(any_of & have for any_of in self.p.required)

    def _feasible(self, opts: list[list[_Option]]) -> bool:
        """Cheap whole-tree checks before searching it."""
        if self.p.isolate and self.granular_count > 1:
            granular: set[int] = set()
            for pos, i in enumerate(self.order):
                if self.p.slots[i].granular:
                    granular.update(rp for rp, _ in opts[pos])
            if len(granular) < self.granular_count:
                return False
        wanted: dict[int, int] = {}
        offered: dict[int, set[int]] = {}
        for pos, i in enumerate(self.order):
            for rc, amount in self.p.slots[i].demands:
                wanted[rc] = wanted.get(rc, 0) + amount
                for rp, _ in opts[pos]:
                    offered.setdefault(rc, set()).add(rp)
        headroom = self.p.headroom
        return all(
            sum(max(headroom.get((rp, rc), 0), 0) for rp in offered[rc])
            >= total
            for rc, total in wanted.items()
        )

    def search(
        self, options: list[list[int]], rng: random.Random | None = None
    ) -> Iterator[tuple[int, ...]]:
        if self.independent:
            yield from self._product(options, rng)
            return
        opts: list[list[_Option]] = []
        combinations = 1
        for i, demands in zip(self.order, self.demands, strict=True):
            choices = options[i]
            if not choices:
                return
            if rng is not None:
                choices = list(choices)
                rng.shuffle(choices)
            opts.append(
                [
                    (rp, tuple([((rp, rc), amount) for rc, amount in demands]))
                    for rp in choices
                ]
                if self.counting
                else [(rp, _NOTHING) for rp in choices]
            )
            combinations *= len(choices)
        if combinations == 1:
            found = self._only(opts)
            if found is not None:
                yield found
            return
        # A small tree is searched outright; a big one first checked whole.
        if combinations > _SMALL and not self._feasible(opts):
            return
        yield from self._walk(opts)

    def _product(
        self, options: list[list[int]], rng: random.Random | None
    ) -> Iterator[tuple[int, ...]]:
        """The candidates of an ``independent`` problem, in the order the
        walk would give them."""
        headroom = self.p.headroom
        fitting = []
        for choices, ((rc, amount),) in zip(
            options, self.demands, strict=False
        ):
            if self.p.options_fit:  # (each has room: no lookup per option)
                fit = choices if rng is None else list(choices)
            else:
                fit = [
                    rp for rp in choices if headroom.get((rp, rc), 0) >= amount
                ]
            if not fit:
                return
            if rng is not None:
                rng.shuffle(fit)
            fitting.append(fit)
        if not self.p.required:
            yield from itertools.product(*fitting)
            return
        for choice in itertools.product(*fitting):
            if self._traits_ok(choice):
                yield choice

    def _only(self, opts: list[list[_Option]]) -> tuple[int, ...] | None:
        """The candidate when each slot has a single option, if it obeys
        the rules ``_walk`` enforces (checked on the whole choice)."""
        rps = [entries[0][0] for entries in opts]
        wanted: dict[tuple[int, int], int] = {}
        for entries in opts:
            for key, amount in entries[0][1]:
                wanted[key] = wanted.get(key, 0) + amount
        headroom = self.p.headroom
        for key, amount in wanted.items():
            if headroom.get(key, 0) < amount:
                return None
        if self.p.isolate:
            isolated = [
                rp
                for rp, iso in zip(rps, self.isolate_at, strict=False)
                if iso
            ]
            if len(set(isolated)) < len(isolated):
                return None
        if self.p.one_per_tree:
            picked: dict[int, int] = {}
            roots = self.p.roots
            for rp, in_tree in zip(rps, self.tree_at, strict=False):
                if in_tree and picked.setdefault(roots[rp], rp) != rp:
                    return None
        if self.trait_at >= 0 and not self._traits_ok(
            [rps[q] for q in self.unsuffixed]
        ):
            return None
        for groups in self.subtree_at:
            if not self._subtrees_ok(rps, groups):
                return None
        return self.in_slot_order(rps)

    def _walk(self, opts: list[list[_Option]]) -> Iterator[tuple[int, ...]]:
        """Depth-first over the options, pruning as soon as a partial
        choice breaks a rule."""
        n = len(opts)
        p = self.p
        headroom = p.headroom
        remaining = {
            key: headroom.get(key, 0)
            for entries in opts
            for _rp, deltas in entries
            for key, _amount in deltas
        }
        isolate_at, tree_at = self.isolate_at, self.tree_at
        subtree_at, trait_at = self.subtree_at, self.trait_at
        unsuffixed = self.unsuffixed
        roots = p.roots
        taken: set[int] = set()
        tree_use: dict[int, list[int]] = {}  # root -> [provider, uses]
        # The provider and deltas chosen per position: each is set before
        # it is read (None only fills the positions not reached yet).
        choice: list[int] = [None] * n  # type: ignore[list-item]
        chosen: list[_Deltas] = [None] * n  # type: ignore[list-item]
        in_slot_order = self.in_slot_order
        subtrees_ok = self._subtrees_ok

        def undo(pos: int) -> None:
            for key, amount in chosen[pos]:
                remaining[key] += amount
            rp = choice[pos]
            if isolate_at[pos]:
                taken.discard(rp)
            if tree_at[pos]:
                use = tree_use[roots[rp]]
                use[1] -= 1
                if not use[1]:
                    del tree_use[roots[rp]]

        stack = [iter(opts[0])]
        while stack:
            pos = len(stack) - 1
            for rp, deltas in stack[-1]:
                if isolate_at[pos] and rp in taken:
                    continue
                for key, amount in deltas:
                    if remaining[key] < amount:
                        break
                else:
                    if tree_at[pos]:
                        use = tree_use.get(roots[rp])
                        if use is not None and use[0] != rp:
                            continue
                    if pos == trait_at and not self._traits_ok(
                        [choice[q] for q in unsuffixed[:-1]] + [rp]
                    ):
                        continue
                    if subtree_at[pos]:
                        choice[pos] = rp
                        if not subtrees_ok(choice, subtree_at[pos]):
                            continue
                    for key, amount in deltas:
                        remaining[key] -= amount
                    if isolate_at[pos]:
                        taken.add(rp)
                    if tree_at[pos]:
                        use = tree_use.setdefault(roots[rp], [rp, 0])
                        use[1] += 1
                    choice[pos] = rp
                    chosen[pos] = deltas
                    if pos == n - 1:
                        yield in_slot_order(choice)
                        undo(pos)
                        continue
                    stack.append(iter(opts[pos + 1]))
                    break
            else:
                stack.pop()
                if stack:
                    undo(pos - 1)
