"""Parsing GET /allocation_candidates query strings into request groups."""

import pytest

from allotment import exceptions
from allotment.api import candidates_query as request
from allotment.api import microversion


def _parse(params, version="1.39"):
    v = microversion.requested("placement " + version)
    return request.parse(params, v)


def test_groups_in_order_of_first_appearance():
    parsed = _parse(
        {
            "resources_B": ["VCPU:1"],
            "resources": ["MEMORY_MB:64"],
            "required": ["HW_CPU_X86_AVX", "in:CUSTOM_A,CUSTOM_B"],
            "required_B": ["!CUSTOM_C"],
            "member_of_B": ["!55a3b8f3-2d9f-4bb3-aa0f-c1b2a2a6f4c1"],
            "in_tree": ["5e08ea53-c4c6-448e-9334-ac4953de3cfa"],
            "group_policy": ["isolate", "none"],
            "limit": ["3"],
            "root_required": ["COMPUTE_X,!CUSTOM_Y"],
        }
    )
    assert [g.suffix for g in parsed.groups] == ["_B", ""]
    b, unsuffixed = parsed.groups
    assert b.granular and not unsuffixed.granular
    assert b.resources == {"VCPU": 1} and b.forbidden == {"CUSTOM_C"}
    assert b.forbidden_aggs == {"55a3b8f3-2d9f-4bb3-aa0f-c1b2a2a6f4c1"}
    assert unsuffixed.required == [
        {"HW_CPU_X86_AVX"},
        {"CUSTOM_A", "CUSTOM_B"},
    ]
    assert unsuffixed.in_tree == "5e08ea53-c4c6-448e-9334-ac4953de3cfa"
    assert parsed.limit == 3 and parsed.group_policy == "isolate"
    assert parsed.root_required == {"COMPUTE_X"}
    assert parsed.root_forbidden == {"CUSTOM_Y"}


def test_before_1_39_only_the_last_required_counts():
    parsed = _parse(
        {"resources": ["VCPU:1"], "required": ["CUSTOM_A", "CUSTOM_B"]}, "1.38"
    )
    assert parsed.groups[0].required == [{"CUSTOM_B"}]


def test_resourceless_group_needs_same_subtree():
    parsed = _parse(
        {
            "resources_A": ["VCPU:1"],
            "required_R": ["CUSTOM_A"],
            "same_subtree": ["_A,_R"],
            "group_policy": ["none"],
        }
    )
    assert parsed.same_subtrees == [{"_A", "_R"}]
    assert parsed.groups[1].resources == {}


@pytest.mark.parametrize(
    "params,version",
    [
        ({"resources": ["VCPU:1"], "same_subtree": ["_A,"]}, "1.39"),
        ({"resources": ["VCPU:1"], "required1": ["CUSTOM_A"]}, "1.35"),
        ({"resources": ["VCPU:1"], "limit": ["2"]}, "1.15"),
        ({"resources": ["VCPU:x"]}, "1.39"),
    ],
)
def test_bad_queries(params, version):
    with pytest.raises(exceptions.BadRequest):
        _parse(params, version)


def test_a_query_found_valid_is_not_checked_again(monkeypatch):
    checked = []
    validate = request.http.validate
    monkeypatch.setattr(
        request.http,
        "validate",
        lambda *args, **kw: checked.append(args[0]) or validate(*args, **kw),
    )
    params = {"resources": ["VCPU:1,MEMORY_MB:64"], "limit": ["7"]}
    first, again = _parse(params), _parse(dict(params))
    assert first == again and again.limit == 7
    assert len(checked) == 1
    # At another microversion the schema differs: checked again.
    _parse(params, "1.35")
    assert len(checked) == 2
    # An invalid query is refused each time.
    for _ in range(2):
        with pytest.raises(exceptions.BadRequest):
            _parse({"resources": ["VCPU:1"], "limit": ["-7"]})
    assert len(checked) == 4
