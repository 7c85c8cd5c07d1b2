"""The candidate search on hand-built trees: exact candidate sets."""

import itertools
import random

from allotment.candidates import combine
from allotment.candidates.combine import Slot

VCPU, MEM, DISK, DEV, VF = 0, 1, 2, 100, 101


def problem(slots, anchors, headroom, **kwargs):
    return combine.Problem(
        slots=slots, anchors=anchors, headroom=headroom, **kwargs
    )


def wide_tree(children=8, isolate=True):
    devices = list(range(1, children + 1))
    slots = [Slot(str(n), True, ((DEV, 1),)) for n in devices]
    headroom = {(rp, DEV): 1 for rp in devices}
    return problem(
        slots, [(0, [devices] * children)], headroom, isolate=isolate
    )


def test_wide_tree_isolate_gives_every_permutation():
    found = list(combine.generate(wide_tree()))
    assert len(found) == 40320
    assert set(found) == set(itertools.permutations(range(1, 9)))


def test_wide_tree_limit_stops_early_with_valid_candidates():
    found = list(combine.generate(wide_tree(), count=1000))
    assert len(set(found)) == 1000
    valid = set(itertools.permutations(range(1, 9)))
    assert set(found) <= valid


def test_wide_tree_capacity_alone_prunes_like_isolate():
    assert set(combine.generate(wide_tree(4, isolate=False))) == set(
        itertools.permutations(range(1, 5))
    )


def test_wide_tree_randomized_is_valid_and_distinct():
    found = list(
        combine.generate(wide_tree(5), count=50, rng=random.Random(7))
    )
    assert len(set(found)) == 50
    assert set(found) <= set(itertools.permutations(range(1, 6)))


def test_more_isolated_groups_than_providers_gives_nothing():
    devices = [1, 2, 3]
    slots = [Slot(str(n), True, ((DEV, 1),)) for n in range(4)]
    headroom = {(rp, DEV): 5 for rp in devices}
    assert (
        list(
            combine.generate(
                problem(slots, [(0, [devices] * 4)], headroom, isolate=True)
            )
        )
        == []
    )


def test_policy_none_lets_groups_share_a_provider_within_capacity():
    slots = [Slot("1", True, ((DEV, 1),)), Slot("2", True, ((DEV, 1),))]
    headroom = {(1, DEV): 2, (2, DEV): 1}
    found = set(
        combine.generate(problem(slots, [(0, [[1, 2], [1, 2]])], headroom))
    )
    assert found == {(1, 1), (1, 2), (2, 1)}


# A deep NUMA tree:
#   cn(1) -> numa0(2) -> pf0(4)
#         -> numa1(3) -> pf1(5)
DEEP_PARENTS = {1: None, 2: 1, 3: 1, 4: 2, 5: 3}


def test_deep_numa_tree_same_subtree_with_resourceless_group():
    slots = [
        Slot("_C", True, ((VCPU, 2),)),
        Slot("_N", True, ((VF, 1),)),
        Slot("_R", True, ()),
    ]
    headroom = {(2, VCPU): 4, (3, VCPU): 4, (4, VF): 8, (5, VF): 8}
    found = set(
        combine.generate(
            problem(
                slots,
                [(1, [[2, 3], [4, 5], [2, 3]])],
                headroom,
                isolate=False,
                same_subtrees=[(0, 1, 2)],
                parents=DEEP_PARENTS,
            )
        )
    )
    assert found == {(2, 4, 2), (3, 5, 3)}


def test_deep_numa_tree_unsuffixed_spreads_across_the_tree():
    slots = [Slot("", False, ((VCPU, 1),)), Slot("", False, ((MEM, 512),))]
    headroom = {(2, VCPU): 1, (3, VCPU): 1, (2, MEM): 1024, (3, MEM): 256}
    found = set(
        combine.generate(problem(slots, [(1, [[2, 3], [2, 3]])], headroom))
    )
    # numa1 has too little memory.
    assert found == {(2, 2), (3, 2)}


def test_deep_numa_tree_required_traits_are_collective():
    slots = [Slot("", False, ((VCPU, 1),)), Slot("", False, ((MEM, 1),))]
    headroom = {(rp, rc): 1 for rp in (2, 3) for rc in (VCPU, MEM)}
    traits = {2: frozenset({7}), 3: frozenset({8})}
    found = set(
        combine.generate(
            problem(
                slots,
                [(1, [[2, 3], [2, 3]])],
                headroom,
                required=[frozenset({7}), frozenset({8})],
                traits=traits,
            )
        )
    )
    assert found == {(2, 3), (3, 2)}
    found = set(
        combine.generate(
            problem(
                slots,
                [(1, [[2, 3], [2, 3]])],
                headroom,
                required=[frozenset({7, 9})],
                traits=traits,
            )
        )
    )
    assert found == {(2, 2), (2, 3), (3, 2)}


def test_capacity_sums_unsuffixed_and_granular_amounts():
    slots = [Slot("", False, ((VCPU, 3),)), Slot("1", True, ((VCPU, 2),))]
    headroom = {(2, VCPU): 4, (3, VCPU): 8}
    found = set(
        combine.generate(problem(slots, [(1, [[2, 3], [2, 3]])], headroom))
    )
    assert found == {(2, 3), (3, 2), (3, 3)}


def test_one_provider_per_tree_below_1_29():
    slots = [Slot("", False, ((VCPU, 1),)), Slot("", False, ((MEM, 1),))]
    headroom = {(rp, rc): 1 for rp in (2, 3) for rc in (VCPU, MEM)}
    found = set(
        combine.generate(
            problem(
                slots,
                [(1, [[2, 3], [2, 3]])],
                headroom,
                one_per_tree=True,
                roots={2: 1, 3: 1},
            )
        )
    )
    assert found == {(2, 2), (3, 3)}


# Sharing storage in two aggregates: cn1(1) and cn2(2) in aggregate A with
# ss1(10); cn3(3) in aggregate B with ss1 and ss2(20).
def sharing_problem(slots, per_anchor):
    headroom = {
        (1, VCPU): 4,
        (2, VCPU): 4,
        (3, VCPU): 4,
        (10, DISK): 100,
        (20, DISK): 100,
    }
    return problem(
        slots, sorted(per_anchor.items()), headroom, shared=frozenset({10, 20})
    )


def test_sharing_storage_in_two_aggregates():
    slots = [Slot("", False, ((VCPU, 1),)), Slot("", False, ((DISK, 10),))]
    found = set(
        combine.generate(
            sharing_problem(
                slots, {1: [[1], [10]], 2: [[2], [10]], 3: [[3], [10, 20]]}
            )
        )
    )
    assert found == {(1, 10), (2, 10), (3, 10), (3, 20)}


def test_sharing_only_candidates_are_not_repeated_per_anchor():
    slots = [Slot("", False, ((DISK, 10),))]
    found = list(
        combine.generate(
            sharing_problem(
                slots,
                {1: [[10]], 2: [[10]], 3: [[10, 20]], 10: [[10]], 20: [[20]]},
            )
        )
    )
    assert sorted(found) == [(10,), (20,)]


def test_breadth_first_alternates_anchors():
    slots = [Slot("1", True, ((DEV, 1),))]
    headroom = {(rp, DEV): 1 for rp in (1, 2, 11, 12)}
    anchors = [(0, [[1, 2]]), (10, [[11, 12]])]
    assert list(
        combine.generate(problem(slots, anchors, headroom), breadth_first=True)
    ) == [(1,), (11,), (2,), (12,)]
    assert list(
        combine.generate(problem(slots, anchors, headroom), count=3)
    ) == [(1,), (2,), (11,)]


def test_single_choice_shortcut_agrees_with_the_walk():
    """A tree offering one provider per slot is checked whole (``_only``);
    it must accept exactly what the depth-first walk accepts."""
    rng = random.Random(7)
    rps = [1, 2, 3, 4]
    parents = {1: None, 2: 1, 3: 1, 4: 2}
    traits = {
        1: frozenset({10}),
        2: frozenset({11}),
        3: frozenset({10, 12}),
        4: frozenset(),
    }
    checked = 0
    for _ in range(3000):
        slots = []
        for i in range(rng.randint(1, 4)):
            granular = rng.random() < 0.6
            demands = tuple(
                (rc, rng.randint(1, 3))
                for rc in rng.sample(
                    [VCPU, MEM, DISK], rng.randint(0 if granular else 1, 1)
                )
            )
            slots.append(
                Slot("_%d" % i if granular else "", granular, demands)
            )
        granular = [i for i, s in enumerate(slots) if s.granular]
        same = (
            [tuple(rng.sample(granular, 2))]
            if (len(granular) > 1 and rng.random() < 0.3)
            else []
        )
        choice = [[rng.choice(rps)] for _ in slots]
        headroom = {
            (rp, rc): rng.randint(0, 5)
            for rp in rps
            for rc in (VCPU, MEM, DISK)
        }
        required = (
            [frozenset(rng.sample([10, 11, 12], 1))]
            if (rng.random() < 0.3)
            else []
        )
        p = problem(
            slots,
            [(1, choice)],
            headroom,
            isolate=rng.random() < 0.5,
            same_subtrees=same,
            parents=parents,
            required=required,
            traits=traits,
            one_per_tree=rng.random() < 0.3,
            roots={1: 1, 2: 1, 3: 1, 4: 1},
        )
        searcher = combine._Searcher(p)
        opts = [
            [
                (rp, tuple(((rp, rc), a) for rc, a in slots[i].demands))
                for rp in choice[i]
            ]
            for i in searcher.order
        ]
        walked = list(searcher._walk(opts))
        only = searcher._only(opts)
        assert walked == ([] if only is None else [only])
        checked += only is not None
    assert checked > 300


def test_unsuffixed_product_agrees_with_the_walk():
    """Unsuffixed-only problems are a product of the providers with room,
    less choices lacking required traits; the walk must find the same, in
    the same order."""
    rng = random.Random(11)
    traits = {
        1: frozenset({10}),
        2: frozenset({11}),
        3: frozenset({10, 12}),
        4: frozenset(),
        5: frozenset({12}),
        6: frozenset(),
    }
    for _ in range(1000):
        classes = rng.sample([VCPU, MEM, DISK, VF], rng.randint(1, 4))
        slots = [Slot("", False, ((rc, rng.randint(1, 3)),)) for rc in classes]
        options = [rng.sample(range(1, 7), rng.randint(0, 4)) for _ in slots]
        headroom = {
            (rp, rc): rng.randint(0, 4) for rp in range(1, 7) for rc in classes
        }
        required = [
            frozenset(rng.sample([10, 11, 12], rng.randint(1, 2)))
            for _ in range(rng.randint(0, 2))
        ]
        searcher = combine._Searcher(
            problem(
                slots,
                [(1, options)],
                headroom,
                required=required,
                traits=traits,
            )
        )
        assert searcher.independent
        opts = [
            [
                (rp, tuple(((rp, rc), a) for rc, a in slots[i].demands))
                for rp in options[i]
            ]
            for i in searcher.order
        ]
        walked = list(searcher._walk(opts)) if all(options) else []
        assert list(searcher.search(options)) == walked


def test_fitting_options_need_no_counting_unless_a_class_repeats():
    """With ``options_fit`` (each option has room for its slot on its own,
    as find's options do) the search skips counting room when no class is
    asked by two slots; it must find exactly what counting finds, in the
    same order. Where a class repeats it still counts (a mutation that
    skipped it there fails the repeated-class cases)."""
    rng = random.Random(5)
    rps = list(range(1, 8))
    parents = {1: None, 2: 1, 3: 1, 4: 2, 5: 2, 6: 3, 7: None}
    roots = {rp: (7 if rp == 7 else 1) for rp in rps}
    repeated = 0
    for _ in range(1500):
        slots = []
        unsuffixed = [VCPU, MEM, DISK, VF]  # one class each, not repeated
        rng.shuffle(unsuffixed)
        for i in range(rng.randint(2, 4)):
            granular = rng.random() < 0.7
            classes = (
                rng.sample([VCPU, MEM, DISK, VF], rng.randint(1, 2))
                if granular
                else [unsuffixed.pop()]
            )
            demands = tuple((rc, rng.randint(1, 3)) for rc in classes)
            slots.append(
                Slot("_%d" % i if granular else "", granular, demands)
            )
        headroom = {
            (rp, rc): rng.randint(0, 5)
            for rp in rps
            for rc in (VCPU, MEM, DISK, VF)
        }
        options = [
            [
                rp
                for rp in rng.sample(rps, rng.randint(1, 5))
                if all(headroom[(rp, rc)] >= a for rc, a in slot.demands)
            ]
            for slot in slots
        ]
        granular = [i for i, s in enumerate(slots) if s.granular]
        kwargs = {
            "isolate": rng.random() < 0.5,
            "same_subtrees": (
                [tuple(rng.sample(granular, 2))]
                if len(granular) > 1 and rng.random() < 0.5
                else []
            ),
            "parents": parents,
            "roots": roots,
        }
        counted = problem(slots, [(1, options)], headroom, **kwargs)
        fitting = problem(
            slots, [(1, options)], headroom, options_fit=True, **kwargs
        )
        classes = [rc for s in slots for rc, _a in s.demands]
        repeated += len(classes) > len(set(classes))
        assert list(combine.generate(fitting)) == list(
            combine.generate(counted)
        )
    assert repeated > 300
