"""Rendering of candidates: the joined fast path equals the general one."""

import orjson
import pytest

from allotment.api import microversion
from allotment.candidates import combine
from allotment.candidates import find
from allotment.candidates import render
from allotment.candidates.combine import Slot


def _version(text):
    return microversion.parse({"openstack-api-version": "placement " + text})


UUIDS = {rp: "%08d-0000-4000-8000-000000000000" % rp for rp in range(10)}


def _plan(slots):
    problem = combine.Problem(slots=slots, anchors=[], limits={})
    return find.Plan(problem=problem, uuids=UUIDS, roots={},
                     rc_names={0: "VCPU", 1: "CUSTOM_DEV"},
                     requested_rc_ids={0, 1})


@pytest.mark.parametrize("version", ["1.10", "1.12", "1.34"])
@pytest.mark.parametrize("choice", [(1, 2, 3), (1, 1, 3), (2, 3, 3)])
def test_joined_json_matches_general_rendering(version, choice):
    v = _version(version)
    plan = _plan([Slot("1", True, ((1, 1),)), Slot("2", True, ((1, 2),)),
                  Slot("_R", True, ())])
    renderer = render.AllocationRequests(plan, v)
    assert orjson.loads(renderer.dumps(choice)) == renderer(choice)


def test_unsuffixed_and_granular_amounts_are_summed():
    v = _version("1.34")
    plan = _plan([Slot("", False, ((0, 2),)), Slot("", False, ((1, 1),)),
                  Slot("1", True, ((0, 1),))])
    body = orjson.loads(render.AllocationRequests(plan, v).dumps((1, 2, 1)))
    assert body == {
        "allocations": {UUIDS[1]: {"resources": {"VCPU": 3}},
                        UUIDS[2]: {"resources": {"CUSTOM_DEV": 1}}},
        "mappings": {"": [UUIDS[1], UUIDS[2]], "1": [UUIDS[1]]}}


def test_stream_is_valid_json_with_summaries():
    v = _version("1.39")
    plan = _plan([Slot("1", True, ((1, 1),))])
    summary = find.Summary(UUIDS[1], None, UUIDS[1],
                           {"CUSTOM_DEV": (4, 1)}, ["CUSTOM_X"])
    seen = []

    def summarize(used):
        seen.append(used)
        return [summary]

    chunks = render.stream(plan, iter([(n,) for n in range(1, 9)] * 40), v,
                           summarize)
    body = orjson.loads(b"".join(chunks))
    assert len(body["allocation_requests"]) == 320
    assert seen == [set(range(1, 9))]
    assert body["provider_summaries"] == {UUIDS[1]: {
        "resources": {"CUSTOM_DEV": {"capacity": 4, "used": 1}},
        "traits": ["CUSTOM_X"], "parent_provider_uuid": None,
        "root_provider_uuid": UUIDS[1]}}
    empty = orjson.loads(b"".join(render.stream(None, iter(()), v, None)))
    assert empty == {"allocation_requests": [], "provider_summaries": {}}
