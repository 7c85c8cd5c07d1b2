"""Rendering of candidates: the templates equal the general rendering;
summaries come from the snapshot."""

import orjson
import pytest

from allotment.api import candidates_query
from allotment.api import microversion
from allotment.candidates import combine
from allotment.candidates import find
from allotment.candidates import render
from allotment.candidates import snapshot
from allotment.candidates.combine import Slot


def _version(text):
    """The engine's flags at microversion ``text``."""
    return candidates_query.flags(microversion.requested("placement " + text))


UUIDS = {rp: "%08d-0000-4000-8000-000000000000" % rp for rp in range(10)}


def _plan(slots):
    problem = combine.Problem(slots=slots, anchors=[], headroom={})
    return find.Plan(
        problem=problem,
        uuids=UUIDS,
        roots={},
        rc_names={0: "VCPU", 1: "CUSTOM_DEV"},
        requested_rc_ids={0, 1},
    )


@pytest.mark.parametrize("version", ["1.10", "1.12", "1.34"])
@pytest.mark.parametrize(
    "choice", [(1, 2, 3), (1, 1, 3), (2, 3, 3), (3, 3, 3), (2, 3, 2)]
)
@pytest.mark.parametrize("unsuffixed", [True, False])
def test_templated_json_matches_general_rendering(version, choice, unsuffixed):
    v = _version(version)
    first = (
        Slot("", False, ((0, 1),))
        if unsuffixed
        else Slot("1", True, ((1, 1),))
    )
    plan = _plan([first, Slot("2", True, ((1, 2),)), Slot("_R", True, ())])
    renderer = render.AllocationRequests(plan, v)
    for _ in range(2):  # built, then reused
        assert orjson.loads(renderer.dumps(choice)) == renderer(choice)


def test_unsuffixed_and_granular_amounts_are_summed():
    v = _version("1.34")
    plan = _plan(
        [
            Slot("", False, ((0, 2),)),
            Slot("", False, ((1, 1),)),
            Slot("1", True, ((0, 1),)),
        ]
    )
    body = orjson.loads(render.AllocationRequests(plan, v).dumps((1, 2, 1)))
    assert body == {
        "allocations": {
            UUIDS[1]: {"resources": {"VCPU": 3}},
            UUIDS[2]: {"resources": {"CUSTOM_DEV": 1}},
        },
        "mappings": {"": [UUIDS[1], UUIDS[2]], "1": [UUIDS[1]]},
    }


def _snapshot():
    """A root with two inventories and a trait, and its child."""
    snap = snapshot.assemble(
        snapshot.Loaded(
            providers=[
                (1, UUIDS[1], None, 1, "root", 0, 0, False),
                (2, UUIDS[2], 1, 1, "child", 0, 0, False),
            ],
            inventories=[
                (1, 0, 8, 0, 1.0, 1, 8, 1),
                (1, 1, 4, 0, 1.0, 1, 4, 1),
            ],
            used={(1, 1): 1},
            traits=[(1, 1000)],
            trait_names={1000: "CUSTOM_X"},
            aggregates=[],
        )
    )
    snap.rc_names = {0: "VCPU", 1: "CUSTOM_DEV"}
    return snap


def test_answer_is_valid_json_with_summaries_of_whole_trees():
    plan = _plan([Slot("1", True, ((1, 1),))])
    snap = _snapshot()
    body = orjson.loads(
        b"".join(
            render.answer(plan, iter([(1,)] * 300), _version("1.39"), snap)
        )
    )
    assert len(body["allocation_requests"]) == 300
    assert body["provider_summaries"] == {
        UUIDS[1]: {
            "resources": {
                "CUSTOM_DEV": {"capacity": 4, "used": 1},
                "VCPU": {"capacity": 8, "used": 0},
            },
            "traits": ["CUSTOM_X"],
            "parent_provider_uuid": None,
            "root_provider_uuid": UUIDS[1],
        },
        UUIDS[2]: {
            "resources": {},
            "traits": [],
            "parent_provider_uuid": UUIDS[1],
            "root_provider_uuid": UUIDS[1],
        },
    }
    empty = orjson.loads(
        b"".join(render.answer(None, iter(()), _version("1.39"), snap))
    )
    assert empty == {"allocation_requests": [], "provider_summaries": {}}


@pytest.mark.parametrize("with_resources", [1, 2])
def test_a_resourceless_groups_provider_adds_no_tree_to_the_summaries(
    with_resources,
):
    """From 1.35 a group may ask for no resources: the provider it picks
    is in the candidate's mappings, but its tree is summarized only if
    another provider of the candidate takes resources from it (here one
    or two groups take resources from the first root)."""
    snap = snapshot.assemble(
        snapshot.Loaded(
            providers=[
                (1, UUIDS[1], None, 1, "root", 0, 0, False),
                (2, UUIDS[2], None, 2, "other", 0, 0, False),
            ],
            inventories=[(1, 1, 4, 0, 1.0, 1, 4, 1)],
            used={},
            traits=[(2, 1000)],
            trait_names={1000: "CUSTOM_X"},
            aggregates=[],
        )
    )
    snap.rc_names = {1: "CUSTOM_DEV"}
    slots = [Slot(str(n), True, ((1, 1),)) for n in range(with_resources)]
    plan = _plan([*slots, Slot("x", True)])
    plan.uuids = snap.uuid_of  # type: ignore[assignment]
    # rows 0 and 1: the two roots; 100 candidates, more than a batch
    choice = (0,) * with_resources + (1,)
    chunks = render.answer(plan, iter([choice] * 100), _version("1.39"), snap)
    body = orjson.loads(b"".join(chunks))
    assert len(body["allocation_requests"]) == 100
    mappings = {str(n): [UUIDS[1]] for n in range(with_resources)}
    mappings["x"] = [UUIDS[2]]
    assert body["allocation_requests"][0]["mappings"] == mappings
    assert list(body["provider_summaries"]) == [UUIDS[1]]


def test_old_summaries_show_used_providers_and_requested_classes():
    plan = _plan([Slot("", False, ((1, 1),))])
    plan.requested_rc_ids = {1}
    body = orjson.loads(
        b"".join(
            render.answer(  # row 0: the root
                plan, iter([(0,)]), _version("1.17"), _snapshot()
            )
        )
    )
    assert body["provider_summaries"] == {
        UUIDS[1]: {
            "resources": {"CUSTOM_DEV": {"capacity": 4, "used": 1}},
            "traits": ["CUSTOM_X"],
        }
    }


def test_answer_streams_in_bounded_chunks(monkeypatch):
    """Each chunk holds at most CHUNK_BYTES and one batch more."""
    monkeypatch.setattr(render, "CHUNK_BYTES", 500)
    monkeypatch.setattr(render, "_BATCH", 2)
    plan = _plan([Slot("1", True, ((1, 1),))])
    chunks = list(
        render.answer(plan, iter([(1,)] * 200), _version("1.39"), _snapshot())
    )
    assert len(chunks) > 10
    assert max(len(c) for c in chunks[:-1]) < 1000
    body = orjson.loads(b"".join(chunks))
    assert len(body["allocation_requests"]) == 200


def test_summaries_stream_in_chunks(monkeypatch):
    """The summaries of a tree come one chunk per provider here; the body
    is the same as in one piece."""
    plan = _plan([Slot("1", True, ((1, 1),))])
    whole = b"".join(
        render.answer(plan, iter([(1,)]), _version("1.39"), _snapshot())
    )
    monkeypatch.setattr(render, "_SUMMARIES_PER_CHUNK", 1)
    monkeypatch.setattr(render, "CHUNK_BYTES", 1)  # each piece its own
    chunks = list(
        render.answer(plan, iter([(1,)]), _version("1.39"), _snapshot())
    )
    # the candidates; the summaries' opening; a summary; the last summary
    # with the closing
    assert len(chunks) == 4
    assert orjson.loads(b"".join(chunks)) == orjson.loads(whole)


def test_a_small_answer_is_one_chunk():
    # Each chunk is a system call of the server's.
    plan = _plan([Slot("1", True, ((1, 1),))])
    chunks = list(
        render.answer(plan, iter([(1,)] * 10), _version("1.39"), _snapshot())
    )
    assert len(chunks) == 1
    assert len(orjson.loads(chunks[0])["allocation_requests"]) == 10
