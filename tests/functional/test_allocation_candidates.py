"""GET /allocation_candidates through the WSGI application."""

import uuid

import pytest

AC = "/allocation_candidates?"


def _provider(
    api, name, parent=None, inventory=None, traits=None, aggregates=None
):
    rp_uuid = str(uuid.uuid4())
    body = {"name": name, "uuid": rp_uuid}
    if parent:
        body["parent_provider_uuid"] = parent
    resp = api.post("/resource_providers", body, version="1.20")
    assert resp.status_code == 200, resp.text
    generation = resp.json["generation"]
    if inventory:
        resp = api.put(
            "/resource_providers/%s/inventories" % rp_uuid,
            {
                "resource_provider_generation": generation,
                "inventories": {
                    rc: (v if isinstance(v, dict) else {"total": v})
                    for rc, v in inventory.items()
                },
            },
        )
        assert resp.status_code == 200, resp.text
        generation = resp.json["resource_provider_generation"]
    if traits:
        for name_ in traits:
            if name_.startswith("CUSTOM_"):
                api.put("/traits/" + name_, version="1.6")
        resp = api.put(
            "/resource_providers/%s/traits" % rp_uuid,
            {"resource_provider_generation": generation, "traits": traits},
            version="1.6",
        )
        assert resp.status_code == 200, resp.text
        generation = resp.json["resource_provider_generation"]
    if aggregates:
        resp = api.put(
            "/resource_providers/%s/aggregates" % rp_uuid,
            {
                "resource_provider_generation": generation,
                "aggregates": aggregates,
            },
            version="1.19",
        )
        assert resp.status_code == 200, resp.text
    return rp_uuid


def _allocs(body):
    """Each allocation request as {uuid: {class: amount}}, sorted."""
    return sorted(
        (
            sorted(
                (rp, sorted(v["resources"].items()))
                for rp, v in ar["allocations"].items()
            )
        )
        for ar in body["allocation_requests"]
    )


@pytest.fixture
def sharing(api):
    """cn1, cn2 (VCPU, MEMORY_MB) and a sharing disk ss in aggregate A
    with both."""
    agg = str(uuid.uuid4())
    cn1 = _provider(
        api, "cn1", inventory={"VCPU": 8, "MEMORY_MB": 2048}, aggregates=[agg]
    )
    cn2 = _provider(
        api, "cn2", inventory={"VCPU": 8, "MEMORY_MB": 2048}, aggregates=[agg]
    )
    ss = _provider(
        api,
        "ss",
        inventory={"DISK_GB": 500},
        traits=["MISC_SHARES_VIA_AGGREGATE"],
        aggregates=[agg],
    )
    return {"cn1": cn1, "cn2": cn2, "ss": ss, "agg": agg}


def test_sharing_provider_joins_each_tree(api, sharing):
    resp = api.get(AC + "resources=VCPU:1,DISK_GB:10")
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-cache"
    assert _allocs(resp.json) == sorted(
        [
            sorted(
                [
                    (sharing["cn1"], [("VCPU", 1)]),
                    (sharing["ss"], [("DISK_GB", 10)]),
                ]
            ),
            sorted(
                [
                    (sharing["cn2"], [("VCPU", 1)]),
                    (sharing["ss"], [("DISK_GB", 10)]),
                ]
            ),
        ]
    )
    summaries = resp.json["provider_summaries"]
    assert set(summaries) == {sharing["cn1"], sharing["cn2"], sharing["ss"]}
    assert summaries[sharing["ss"]] == {
        "resources": {"DISK_GB": {"capacity": 500, "used": 0}},
        "traits": ["MISC_SHARES_VIA_AGGREGATE"],
        "parent_provider_uuid": None,
        "root_provider_uuid": sharing["ss"],
    }
    # Before 1.27 only requested classes are summarised.
    old = api.get(AC + "resources=VCPU:1,DISK_GB:10", version="1.26")
    assert old.json["provider_summaries"][sharing["cn1"]]["resources"] == {
        "VCPU": {"capacity": 8, "used": 0}
    }


def test_sharing_only_request_is_not_repeated(api, sharing):
    resp = api.get(AC + "resources=DISK_GB:10")
    assert _allocs(resp.json) == [[(sharing["ss"], [("DISK_GB", 10)])]]


def test_sharing_only_unsuffixed_group_joins_each_tree(api, sharing):
    """An unsuffixed group only the sharing provider can serve, beside a
    granular group, is offered with every tree of the aggregate, as when
    the same disk is asked in a granular group or beside VCPU. (The
    reference 16.0.0 keeps it for one tree per sharing provider, which
    one depending on set order: its allocation requests compare equal
    without their anchor and collapse in a set; docs/upgrade.md.)"""
    expected = sorted(
        sorted(
            [(sharing[cn], [("VCPU", 1)]), (sharing["ss"], [("DISK_GB", 10)])]
        )
        for cn in ("cn1", "cn2")
    )
    for query in (
        "resources=DISK_GB:10&resources1=VCPU:1",
        "resources1=DISK_GB:10&resources2=VCPU:1",
        "resources=VCPU:1,DISK_GB:10",
    ):
        resp = api.get(AC + query + "&group_policy=none", version="1.33")
        assert resp.status_code == 200, resp.text
        assert _allocs(resp.json) == expected, query


def test_old_list_format_and_limit(api, sharing):
    resp = api.get(AC + "resources=VCPU:1", version="1.10")
    assert resp.status_code == 200
    assert "cache-control" not in resp.headers
    assert sorted(
        ar["allocations"][0]["resource_provider"]["uuid"]
        for ar in resp.json["allocation_requests"]
    ) == sorted([sharing["cn1"], sharing["cn2"]])
    resp = api.get(AC + "resources=VCPU:1&limit=1", version="1.16")
    assert len(resp.json["allocation_requests"]) == 1
    assert len(resp.json["provider_summaries"]) == 1


def test_capacity_counts_usage(api, sharing):
    consumer = str(uuid.uuid4())
    resp = api.put(
        "/allocations/" + consumer,
        {
            "allocations": {sharing["cn1"]: {"resources": {"VCPU": 6}}},
            "project_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()),
            "consumer_generation": None,
        },
        version="1.28",
    )
    assert resp.status_code == 204, resp.text
    resp = api.get(AC + "resources=VCPU:3")
    assert _allocs(resp.json) == [[(sharing["cn2"], [("VCPU", 3)])]]
    resp = api.get(AC + "resources=VCPU:2")
    assert resp.json["provider_summaries"][sharing["cn1"]]["resources"][
        "VCPU"
    ] == {"capacity": 8, "used": 6}


def test_wide_tree_isolate_mappings(sqlite_api):
    api = sqlite_api
    api.put("/resource_classes/CUSTOM_DEV", version="1.7")
    root = _provider(api, "root")
    children = [
        _provider(api, "c%d" % n, parent=root, inventory={"CUSTOM_DEV": 1})
        for n in range(4)
    ]
    query = "&".join("resources%d=CUSTOM_DEV:1" % n for n in range(1, 5))
    resp = api.get(AC + query + "&group_policy=isolate")
    requests = resp.json["allocation_requests"]
    assert len(requests) == 24
    assert (
        len(
            {
                tuple(sorted((k, v[0]) for k, v in ar["mappings"].items()))
                for ar in requests
            }
        )
        == 24
    )
    assert all(set(ar["allocations"]) == set(children) for ar in requests)
    assert set(resp.json["provider_summaries"]) == {root, *children}
    resp = api.get(AC + query + "&group_policy=isolate&limit=5")
    assert len(resp.json["allocation_requests"]) == 5
    # Five groups over four single-unit children: nothing.
    resp = api.get(AC + query + "&resources5=CUSTOM_DEV:1&group_policy=none")
    assert resp.json == {"allocation_requests": [], "provider_summaries": {}}


def test_nested_unsuffixed_spreads_only_from_1_29(sqlite_api):
    api = sqlite_api
    cn = _provider(api, "cn", inventory={"VCPU": 4})
    numa = _provider(
        api,
        "numa",
        parent=cn,
        inventory={"MEMORY_MB": 1024},
        traits=["HW_NUMA_ROOT"],
    )
    resp = api.get(AC + "resources=VCPU:1,MEMORY_MB:512")
    assert _allocs(resp.json) == [
        sorted([(cn, [("VCPU", 1)]), (numa, [("MEMORY_MB", 512)])])
    ]
    resp = api.get(AC + "resources=VCPU:1,MEMORY_MB:512", version="1.28")
    assert resp.json["allocation_requests"] == []
    resp = api.get(AC + "resources=VCPU:1,MEMORY_MB:512&required=HW_NUMA_ROOT")
    assert len(resp.json["allocation_requests"]) == 1
    resp = api.get(AC + "resources=VCPU:1&required=HW_NUMA_ROOT")
    assert resp.json["allocation_requests"] == []
    resp = api.get(AC + "resources=VCPU:1&root_required=!HW_NUMA_ROOT")
    assert len(resp.json["allocation_requests"]) == 1


@pytest.mark.parametrize(
    "query,version,detail",
    [
        (
            "",
            "1.39",
            "There must be at least one resources or resources[$S] parameter.",
        ),
        ("resources=VCPU:1&limit=0", "1.39", "Failed validating 'pattern'"),
        (
            "resources=CUSTOM_NOPE:1",
            "1.39",
            "Invalid resource class in resources parameter: No such resource "
            "class CUSTOM_NOPE.",
        ),
        (
            "resources=VCPU:1&required=CUSTOM_NOPE",
            "1.39",
            "No such trait(s): CUSTOM_NOPE.",
        ),
        (
            "resources1=VCPU:1&resources2=VCPU:1",
            "1.39",
            'The "group_policy" parameter is required',
        ),
        (
            "resources=VCPU:1&required=FOO,!FOO",
            "1.39",
            "Conflicting required and forbidden traits found in the following "
            "traits keys: required: (FOO)",
        ),
        (
            "resources=VCPU:1&required_X=FOO",
            "1.39",
            "Resourceless suffixed group request should be specified in "
            "`same_subtree` query param: bad group(s) - ['_X'].",
        ),
        (
            "resources=VCPU:1&same_subtree=_A",
            "1.39",
            "Real suffixes should be specified in `same_subtree`: ['_A'] not "
            "found in [''].",
        ),
        (
            "resources=VCPU:1&root_required=A&root_required=B",
            "1.39",
            "Query parameter 'root_required' may be specified only once.",
        ),
        ("resources_X=VCPU:1", "1.32", "does not match any of the regexes"),
    ],
)
def test_bad_queries(sqlite_api, query, version, detail):
    resp = sqlite_api.get(AC + query, version=version)
    assert resp.status_code == 400, resp.text
    assert detail in resp.json["errors"][0]["detail"]


def test_below_1_10_not_found(sqlite_api):
    assert (
        sqlite_api.get(AC + "resources=VCPU:1", version="1.9").status_code
        == 404
    )


def test_member_of_through_the_root_or_the_provider_itself(sqlite_api):
    """Unsuffixed member_of is met by the provider or its tree's root."""
    agg = str(uuid.uuid4())
    root = _provider(
        sqlite_api, "root", inventory={"DISK_GB": 10}, aggregates=[agg]
    )
    child = _provider(sqlite_api, "child", parent=root, inventory={"VCPU": 4})
    other = _provider(sqlite_api, "other")
    member = _provider(
        sqlite_api,
        "member",
        parent=other,
        inventory={"VCPU": 4},
        aggregates=[agg],
    )
    resp = sqlite_api.get(AC + "resources=VCPU:1&member_of=" + agg)
    assert resp.status_code == 200, resp.text
    assert sorted(
        next(iter(ar["allocations"]))
        for ar in resp.json["allocation_requests"]
    ) == sorted([child, member])


def test_same_subtree_follows_a_reparented_provider(api):
    """The ancestor lines kept between requests (find._ancestry) are
    those of the version asked: moving a PF to the other NUMA node moves
    the candidate with it."""
    root = _provider(api, "cn")
    numa = [
        _provider(api, "numa%d" % i, parent=root, inventory={"VCPU": 4})
        for i in range(2)
    ]
    pf = _provider(api, "pf", parent=numa[0], inventory={"SRIOV_NET_VF": 2})
    query = (
        AC + "resources_A=VCPU:1&resources_B=SRIOV_NET_VF:1"
        "&same_subtree=_A,_B&group_policy=none"
    )

    def numa_used():
        resp = api.get(query, version="1.37")
        assert resp.status_code == 200, resp.text
        return [
            sorted(set(ar["allocations"]) - {pf})
            for ar in resp.json["allocation_requests"]
        ]

    assert numa_used() == [[numa[0]]]
    resp = api.put(
        "/resource_providers/" + pf,
        {"name": "pf", "parent_provider_uuid": numa[1]},
        version="1.37",
    )
    assert resp.status_code == 200, resp.text
    assert numa_used() == [[numa[1]]]


def test_trees_come_in_order_whether_few_or_many_qualify(sqlite_api):
    """Anchors are walked in root order, found among many (most trees) or
    few (those a sharing disk serves), with a banned aggregate's sharing
    disk and the trees it serves left out."""
    near, banned = str(uuid.uuid4()), str(uuid.uuid4())
    computes = []
    for n in range(20):
        aggregates = [near] if n in (6, 8) else [banned] if n == 3 else None
        root = _provider(sqlite_api, "root%d" % n, aggregates=aggregates)
        computes.append(
            _provider(
                sqlite_api, "cn%d" % n, parent=root, inventory={"VCPU": 4}
            )
        )
    disks = {}
    for agg in (near, banned):
        disks[agg] = _provider(
            sqlite_api,
            "disk-" + agg,
            inventory={"DISK_GB": 100},
            traits=["MISC_SHARES_VIA_AGGREGATE"],
            aggregates=[agg],
        )

    def order(query):
        resp = sqlite_api.get(AC + query, version="1.39")
        assert resp.status_code == 200, resp.text
        return [
            sorted(ar["allocations"])
            for ar in resp.json["allocation_requests"]
        ]

    assert order("resources=VCPU:1") == [[cn] for cn in computes]
    assert order("resources=VCPU:1&limit=3") == [[cn] for cn in computes[:3]]
    assert order("resources=VCPU:1,DISK_GB:10&member_of=!" + banned) == [
        sorted([computes[6], disks[near]]),
        sorted([computes[8], disks[near]]),
    ]
    assert order("resources=DISK_GB:10&member_of=!" + banned) == [
        [disks[near]]
    ]
