"""GET /allotment/explain/allocation_candidates and GET /allotment/capacity
on every backend: the steps on known clouds (shapes of the reference's
gabbi fixtures: compute nodes with a sharing disk, NUMA trees with
devices), agreement with GET /allocation_candidates and with claims, and
the same on random clouds and queries (hypothesis)."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.functional import insight_clouds as ic

SHARES = "MISC_SHARES_VIA_AGGREGATE"


@pytest.fixture
def sharing(api):
    """cn1, cn2 (VCPU max_unit 4, MEMORY_MB) with a sharing disk in
    aggregate A; cn3 outside it, with AVX2 and its own disk."""
    agg = str(uuid.uuid4())
    cloud = {"agg": agg}
    for name in ("cn1", "cn2"):
        cloud[name] = ic.provider(
            api,
            name,
            inventory={
                "VCPU": {"total": 8, "max_unit": 4},
                "MEMORY_MB": {"total": 4096, "reserved": 512},
            },
            aggregates=[agg],
        )
    cloud["ss"] = ic.provider(
        api,
        "ss",
        inventory={"DISK_GB": {"total": 100, "step_size": 10}},
        traits=[SHARES],
        aggregates=[agg],
    )
    cloud["cn3"] = ic.provider(
        api,
        "cn3",
        inventory={
            "VCPU": {"total": 4, "allocation_ratio": 2.0},
            "MEMORY_MB": 2048,
            "DISK_GB": 50,
        },
        traits=["HW_CPU_X86_AVX2"],
    )
    return cloud


@pytest.fixture
def numa(api):
    """A compute node with two NUMA children (VCPU, MEMORY_MB) each with a
    PF child (SRIOV_NET_VF, CUSTOM_PHYSNET_A on the first only), and a
    plain compute node."""
    root = ic.provider(
        api, "numa-cn", inventory={"DISK_GB": 200}, traits=["CUSTOM_ROOT_X"]
    )
    cloud = {"root": root}
    for i, physnet in ((0, "CUSTOM_PHYSNET_A"), (1, "CUSTOM_PHYSNET_B")):
        node = ic.provider(
            api,
            "numa%d" % i,
            parent=root,
            inventory={"VCPU": 4, "MEMORY_MB": 2048},
        )
        cloud["numa%d" % i] = node
        cloud["pf%d" % i] = ic.provider(
            api,
            "pf%d" % i,
            parent=node,
            inventory={"SRIOV_NET_VF": {"total": 4, "max_unit": 2}},
            traits=[physnet],
        )
    cloud["plain"] = ic.provider(
        api, "plain-cn", inventory={"VCPU": 2, "MEMORY_MB": 1024}
    )
    return cloud


def _step(group, constraint):
    return next(s for s in group["steps"] if s["constraint"] == constraint)


def test_max_unit_empties_the_set_and_is_named(api, sharing):
    body = ic.check_explain_agrees(api, "resources=VCPU:6,MEMORY_MB:512")
    # cn3 alone: capacity 8, max_unit 8 (its total).
    assert body["allocation_requests"] == 1
    body = ic.check_explain_agrees(api, "resources=VCPU:9")
    assert body["allocation_requests"] == 0
    (group,) = body["groups"]
    capacity = _step(group, "capacity")
    assert capacity["providers"] == 0  # each holds 8 VCPU
    assert capacity["eliminated"] == 3
    assert body["empty_because"] == (
        "Nothing is left after `capacity` in the unsuffixed request group "
        "(resources=VCPU:9): no provider has VCPU:9 free ((total - reserved)"
        " * allocation_ratio - used); the closest, cn1 (%s), has 8 VCPU free"
        " (short by 1)." % sharing["cn1"]
    )


def test_max_unit_below_every_flavor(api, sharing):
    body = ic.check_explain_agrees(
        api, "resources=VCPU:5&member_of=%s" % (sharing["agg"])
    )
    (group,) = body["groups"]
    step = _step(group, "max_unit")
    assert step["providers"] == 1  # cn3 passes max_unit, not member_of
    assert {e["name"] for e in step["examples"]} == {"cn1", "cn2"}
    assert all(
        e
        == {
            "resource_class": "VCPU",
            "requested": 5,
            "max_unit": 4,
            "short_by": 1,
            "uuid": e["uuid"],
            "name": e["name"],
        }
        for e in step["examples"]
    )
    assert body["empty_because"].startswith(
        "Nothing is left after `member_of` in the unsuffixed request group"
    )


def test_step_size_and_sharing(api, sharing):
    body = ic.check_explain_agrees(api, "resources=VCPU:1,DISK_GB:15")
    # ss has step_size 10: only cn3's own disk serves 15.
    assert body["allocation_requests"] == 1
    step = _step(body["groups"][0], "step_size")
    assert step["examples"][0]["name"] == "ss"
    assert step["examples"][0]["step_size"] == 10
    assert step["examples"][0]["short_by"] == 5
    body = ic.check_explain_agrees(api, "resources=VCPU:1,DISK_GB:20")
    assert body["allocation_requests"] == 3
    assert body["groups"][0]["trees"] == 3


def test_required_forbidden_and_root_required(api, sharing):
    body = ic.check_explain_agrees(
        api, "resources=VCPU:1&required=HW_CPU_X86_SSE42"
    )
    assert body["empty_because"] == (
        "Nothing is left after `required` in the unsuffixed request group "
        "(resources=VCPU:1): no tree left holds HW_CPU_X86_SSE42 on its "
        "providers (required)."
    )
    body = ic.check_explain_agrees(
        api, "resources1=VCPU:1&required1=in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE42"
    )
    step = _step(body["groups"][0], "required")
    assert step["providers"] == 1
    body = ic.check_explain_agrees(
        api, "resources=VCPU:1&required=!HW_CPU_X86_AVX2"
    )
    assert _step(body["groups"][0], "forbidden")["eliminated"] == 1
    assert body["allocation_requests"] == 2
    body = ic.check_explain_agrees(
        api, "resources=VCPU:1&root_required=HW_CPU_X86_AVX2"
    )
    assert body["allocation_requests"] == 1
    body = ic.check_explain_agrees(
        api, "resources=VCPU:1&root_required=!HW_CPU_X86_AVX2,HW_CPU_X86_SSE42"
    )
    assert "`root_required`" in body["empty_because"]


def test_in_tree_and_limit(api, sharing):
    body = ic.check_explain_agrees(
        api, "resources=VCPU:1,DISK_GB:10&in_tree=%s" % sharing["cn1"]
    )
    assert body["empty_because"] is not None  # no disk inside cn1's tree
    body = ic.check_explain_agrees(
        api, "resources=VCPU:1&in_tree=%s" % sharing["cn1"]
    )
    assert body["allocation_requests"] == 1
    body = ic.check_explain_agrees(api, "resources=VCPU:1&limit=2")
    assert body["together"][-1]["limit"] == 2
    assert body["allocation_requests"] == 2


def test_nested_granular_isolate_and_same_subtree(api, numa):
    for query in (
        "resources=VCPU:2,MEMORY_MB:1024",
        "resources=VCPU:6",
        "resources1=VCPU:2&resources2=VCPU:2&group_policy=isolate",
        "resources1=VCPU:4&resources2=VCPU:4&group_policy=isolate",
        "resources1=VCPU:3&resources2=VCPU:3&group_policy=isolate",
        "resources1=VCPU:3&resources2=VCPU:3&group_policy=none",
        "resources=DISK_GB:10&resources1=VCPU:1"
        "&resources2=SRIOV_NET_VF:1&required2=CUSTOM_PHYSNET_A"
        "&same_subtree=1,2&group_policy=none",
        "resources1=VCPU:1&resources2=SRIOV_NET_VF:1"
        "&required2=CUSTOM_PHYSNET_B&required3=CUSTOM_PHYSNET_A"
        "&same_subtree=1,2,3&group_policy=none",
        "resources1=SRIOV_NET_VF:3&group_policy=none",
        "resources=VCPU:1&root_required=CUSTOM_ROOT_X",
    ):
        ic.check_explain_agrees(api, query)
    body = ic.check_explain_agrees(
        api,
        "resources1=VCPU:1&resources2=SRIOV_NET_VF:1"
        "&required2=CUSTOM_PHYSNET_B&required3=CUSTOM_PHYSNET_A"
        "&same_subtree=1,2,3&group_policy=none",
    )
    assert body["empty_because"] == (
        "Nothing is left after `same_subtree`: no choice of providers puts "
        "the groups of same_subtree=1,2,3 under one of them."
    )
    physnet_a = (
        "resources1=SRIOV_NET_VF:1&required1=CUSTOM_PHYSNET_A"
        "&resources2=SRIOV_NET_VF:1&required2=CUSTOM_PHYSNET_A"
    )
    body = ic.check_explain_agrees(api, physnet_a + "&group_policy=isolate")
    assert [s["constraint"] for s in body["together"]] == [
        "trees",
        "resources",
        "group_policy",
        "limit",
    ]
    # Both groups from pf0 would do, but not on a provider each.
    assert body["together"][1]["candidates"] == 1
    assert "`group_policy`" in body["empty_because"]
    body = ic.check_explain_agrees(api, "resources1=SRIOV_NET_VF:3")
    assert "`max_unit`" in body["empty_because"]


def test_old_microversions_agree(api, numa):
    for version in ("1.10", "1.17", "1.25", "1.28", "1.33"):
        ic.check_explain_agrees(
            api, "resources=VCPU:2,MEMORY_MB:512", version=version
        )


@pytest.mark.parametrize(
    "query",
    [
        "resources=VCPU:x",
        "resources=CUSTOM_NOPE:1",
        "resources=VCPU:1&required=CUSTOM_NOPE",
        "resources1=VCPU:1&resources2=VCPU:1",
        "resources=VCPU:1&limit=0",
        "resources=VCPU:1&bogus=1",
    ],
)
def test_bad_queries_answer_as_allocation_candidates(sqlite_api, query):
    ic.provider(sqlite_api, "cn", inventory={"VCPU": 4})
    assert ic.check_explain_agrees(sqlite_api, query) is None


def test_needs_the_candidates_microversion_and_the_policy(sqlite_api):
    resp = sqlite_api.get(ic.EXPLAIN + "resources=VCPU:1", version="1.9")
    assert resp.status_code == 404
    for path in (ic.EXPLAIN, ic.CAPACITY):
        resp = sqlite_api.get(path + "resources=VCPU:1", token="bob")
        assert resp.status_code == 403
        assert "allotment:" in resp.json["errors"][0]["detail"]
        assert resp.json["errors"][0]["request_id"].startswith("req-")


# -- capacity --------------------------------------------------------------


def test_capacity_counts_and_agrees_with_claims(api, sharing):
    body = api.get(
        ic.CAPACITY + "resources=VCPU:2,MEMORY_MB:1024&group_by=aggregate"
    ).json
    # cn1, cn2: 8 VCPU (4 claims), 3584 MB (3 claims); cn3: 8 VCPU, 2048 MB.
    assert body["total"] == 8
    assert [(r["name"], r["fits"]) for r in body["roots"]] == [
        ("cn1", 3),
        ("cn2", 3),
        ("cn3", 2),
    ]
    assert body["aggregates"] == [
        {"uuid": sharing["agg"], "fits": 6, "roots": 2}
    ]
    assert body["outside_aggregates"] == 2
    _body, claimed = ic.check_capacity_agrees(
        api, "resources=VCPU:2,MEMORY_MB:1024"
    )
    assert claimed == {
        sharing[n]: c for n, c in (("cn1", 3), ("cn2", 3), ("cn3", 2))
    }


def test_capacity_with_a_shared_disk(api, sharing):
    # The disk (100 GB, step 10) is shared by cn1 and cn2: 3 claims of 30.
    body, _claimed = ic.check_capacity_agrees(
        api, "resources=VCPU:1,DISK_GB:30&member_of=%s" % sharing["agg"]
    )
    assert body["total"] == 3


def test_capacity_nested_and_granular(api, numa):
    for query in (
        "resources=VCPU:1,MEMORY_MB:512",
        "resources1=VCPU:2,MEMORY_MB:1024&resources2=SRIOV_NET_VF:1"
        "&same_subtree=1,2&group_policy=none",
        "resources1=VCPU:1&resources2=VCPU:1&group_policy=isolate",
    ):
        ic.check_capacity_agrees(api, query)


def test_capacity_bad_group_by(sqlite_api):
    resp = sqlite_api.get(ic.CAPACITY + "resources=VCPU:1&group_by=rack")
    assert resp.status_code == 400
    assert resp.json["errors"][0]["code"] == "placement.query.bad_value"


# -- random clouds and queries ------------------------------------------

CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
TRAITS = ("CUSTOM_A", "CUSTOM_B", "CUSTOM_C")

inventories = st.dictionaries(
    st.sampled_from(CLASSES),
    st.fixed_dictionaries(
        {
            "total": st.integers(1, 12),
            "reserved": st.integers(0, 2),
            "min_unit": st.integers(1, 2),
            "max_unit": st.integers(1, 12),
            "step_size": st.integers(1, 3),
            "allocation_ratio": st.sampled_from([1.0, 1.5, 2.0]),
        }
    ).filter(
        lambda i: i["reserved"] < i["total"] and i["min_unit"] <= i["max_unit"]
    ),
    max_size=3,
)
providers = st.lists(
    st.fixed_dictionaries(
        {
            "parent": st.none() | st.integers(0, 5),
            "inventory": inventories,
            "traits": st.lists(st.sampled_from(TRAITS), unique=True),
            "aggs": st.lists(st.integers(0, 1), unique=True, max_size=2),
            "sharing": st.booleans(),
            "use": st.integers(0, 6),
        }
    ),
    min_size=1,
    max_size=6,
)


def _groups():
    resources = st.dictionaries(
        st.sampled_from(CLASSES), st.integers(1, 6), min_size=1, max_size=2
    )
    return st.fixed_dictionaries(
        {
            "resources": resources,
            "required": st.lists(
                st.sampled_from(
                    TRAITS
                    + tuple("!" + t for t in TRAITS)
                    + ("in:CUSTOM_A,CUSTOM_B", "in:CUSTOM_B,CUSTOM_C")
                ),
                unique=True,
                max_size=2,
            ),
            "member_of": st.none()
            | st.sampled_from(["{0}", "{1}", "in:{0},{1}", "!{1}"]),
            "in_tree": st.none() | st.integers(0, 5),
        }
    )


queries = st.fixed_dictionaries(
    {
        "unsuffixed": st.none() | _groups(),
        "granular": st.lists(_groups(), max_size=2),
        "policy": st.sampled_from(["none", "isolate"]),
        "root_required": st.none() | st.sampled_from(TRAITS),
        "limit": st.none() | st.integers(1, 3),
        "version": st.sampled_from(["latest", "latest", "1.33", "1.25"]),
    }
).filter(lambda q: q["unsuffixed"] or q["granular"])


def _build(api, spec):
    """Create the providers of ``spec`` (a parent index refers to an
    earlier provider; later ones are roots), with some usage."""
    aggs = [str(uuid.uuid4()) for _ in range(2)]
    made = []
    for i, p in enumerate(spec):
        parent = (
            made[p["parent"]]
            if p["parent"] is not None and p["parent"] < i
            else None
        )
        traits = list(p["traits"])
        if p["sharing"] and parent is None and p["aggs"]:
            traits.append(SHARES)
        made.append(
            ic.provider(
                api,
                "rp%d-%s" % (i, uuid.uuid4().hex[:6]),
                parent=parent,
                inventory=p["inventory"],
                traits=traits,
                aggregates=[aggs[a] for a in p["aggs"]],
            )
        )
    # Some usage: a claim of ``use`` of each class (when it is allowed).
    for rp, p in zip(made, spec, strict=True):
        if p["use"] and p["inventory"]:
            ic.claim(
                api,
                {rp: {"resources": dict.fromkeys(p["inventory"], p["use"])}},
            )
    return made, aggs


def _query(q, aggs, made):
    parts = []

    def group(g, suffix):
        parts.append(
            "resources%s=%s"
            % (
                suffix,
                ",".join(
                    "%s:%d" % kv for kv in sorted(g["resources"].items())
                ),
            )
        )
        if g["required"]:
            parts.append("required%s=%s" % (suffix, ",".join(g["required"])))
        if g["member_of"] is not None:
            parts.append(
                "member_of%s=%s" % (suffix, g["member_of"].format(*aggs))
            )
        if g["in_tree"] is not None:
            parts.append(
                "in_tree%s=%s" % (suffix, made[g["in_tree"] % len(made)])
            )

    if q["unsuffixed"]:
        group(q["unsuffixed"], "")
    for i, g in enumerate(q["granular"], 1):
        group(g, str(i))
    if len(q["granular"]) > 1:
        parts.append("group_policy=" + q["policy"])
    if q["root_required"]:
        parts.append("root_required=" + q["root_required"])
    if q["limit"]:
        parts.append("limit=%d" % q["limit"])
    return "&".join(parts)


def _clear(api):
    """Delete every consumer and provider (children first)."""
    rps = api.get("/resource_providers").json["resource_providers"]
    for rp in rps:
        allocs = api.get("/resource_providers/%s/allocations" % rp["uuid"])
        for consumer in allocs.json["allocations"]:
            api.delete("/allocations/%s" % consumer)
    depth = {}
    by_uuid = {rp["uuid"]: rp for rp in rps}

    def level(u):
        if u not in depth:
            parent = by_uuid[u]["parent_provider_uuid"]
            depth[u] = 0 if parent is None else level(parent) + 1
        return depth[u]

    for rp in sorted(rps, key=lambda r: -level(r["uuid"])):
        resp = api.delete("/resource_providers/%s" % rp["uuid"])
        assert resp.status_code == 204, resp.text


def _register_traits(api):
    for t in TRAITS:
        api.put("/traits/" + t)


def test_random_clouds_explain_agrees(api):
    _register_traits(api)

    @given(spec=providers, qs=st.lists(queries, min_size=1, max_size=4))
    def run(spec, qs):
        _clear(api)
        made, aggs = _build(api, spec)
        for q in qs:
            ic.check_explain_agrees(
                api, _query(q, aggs, made), version=q["version"]
            )

    run()


def test_random_clouds_capacity_agrees(api):
    _register_traits(api)

    @given(spec=providers, q=queries)
    def run(spec, q):
        _clear(api)
        made, aggs = _build(api, spec)
        q = dict(q, limit=None)
        ic.check_capacity_agrees(api, _query(q, aggs, made))

    run()
