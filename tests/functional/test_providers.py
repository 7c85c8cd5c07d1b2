"""Resource providers through the WSGI app: create, show, update, delete,
nesting and re-parenting, list filters, bad input."""

import datetime
import threading
import uuid

import sqlalchemy as sa

from allotment.storage import changes
from allotment.storage import tables

U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"
U4 = "44444444-4444-4444-8444-444444444444"
AGG1 = "aaaaaaaa-1111-4111-8111-111111111111"
AGG2 = "aaaaaaaa-2222-4222-8222-222222222222"


def _create(api, name, uuid_=None, parent=None, version="1.39"):
    body = {"name": name}
    if uuid_:
        body["uuid"] = uuid_
    if parent:
        body["parent_provider_uuid"] = parent
    resp = api.post("/resource_providers", body, version=version)
    assert resp.status_code in (200, 201), resp.text
    return resp


def _names(resp):
    assert resp.status_code == 200, resp.text
    return sorted(p["name"] for p in resp.json["resource_providers"])


def _count(api):
    return len(api.get("/resource_providers").json["resource_providers"])


def _detail(resp):
    return resp.json["errors"][0]["detail"]


def test_create_show_shapes_per_microversion(api):
    resp = _create(api, "one", U1.replace("-", ""), version="1.0")
    assert resp.status_code == 201
    assert resp.headers["location"].endswith("/resource_providers/" + U1)
    assert "content-type" not in resp.headers

    old = api.get("/resource_providers/" + U1, version="1.0")
    assert old.json == {
        "uuid": U1,
        "name": "one",
        "generation": 0,
        "links": [
            {"rel": "self", "href": "/resource_providers/" + U1},
            {
                "rel": "inventories",
                "href": "/resource_providers/%s/inventories" % U1,
            },
            {"rel": "usages", "href": "/resource_providers/%s/usages" % U1},
        ],
    }
    assert "last-modified" not in old.headers

    rels = [
        link["rel"]
        for link in api.get("/resource_providers/" + U1, version="1.11").json[
            "links"
        ]
    ]
    assert rels == [
        "self",
        "inventories",
        "usages",
        "aggregates",
        "traits",
        "allocations",
    ]

    new = _create(api, "two")
    assert new.status_code == 200
    body = new.json
    assert body["parent_provider_uuid"] is None
    assert body["root_provider_uuid"] == body["uuid"]
    assert new.headers["location"].endswith(
        "/resource_providers/" + body["uuid"]
    )
    assert new.headers["cache-control"] == "no-cache"
    shown = api.get("/resource_providers/" + body["uuid"])
    assert shown.json == body
    assert "last-modified" in shown.headers


def test_duplicates_conflict(api):
    _create(api, "dup", U1)
    resp = api.post("/resource_providers", {"name": "other", "uuid": U1})
    assert resp.status_code == 409
    assert "Conflicting resource provider uuid: %s" % U1 in _detail(resp)
    assert resp.json["errors"][0]["code"] == "placement.duplicate_name"
    resp = api.post("/resource_providers", {"name": "dup", "uuid": U2})
    assert resp.status_code == 409
    assert "Conflicting resource provider name: dup already exists" in (
        _detail(resp)
    )
    _create(api, "other", U2)
    resp = api.put("/resource_providers/" + U2, {"name": "dup"})
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == "placement.duplicate_name"
    assert api.get("/resource_providers/" + U2).json["name"] == "other"
    assert _count(api) == 2


def test_bad_bodies_rejected_and_nothing_written(api):
    bodies = [
        {},
        {"name": "x" * 201},
        {"name": 5},
        {"name": "a", "x": 1},
        {"name": "a", "uuid": "not-a-uuid"},
        {"name": "a", "parent_provider_uuid": "bogus"},
        {"name": "a", "root_provider_uuid": U2},
    ]
    for body in bodies:
        resp = api.post("/resource_providers", body)
        assert resp.status_code == 400, body
        assert "JSON does not validate" in _detail(resp)
    resp = api.post(
        "/resource_providers",
        {"name": "a", "parent_provider_uuid": U2},
        version="1.13",
    )
    assert resp.status_code == 400
    resp = api.request(
        "POST",
        "/resource_providers",
        raw=b"{bad",
        content_type="application/json",
    )
    assert resp.status_code == 400
    assert "Malformed JSON" in _detail(resp)
    resp = api.request(
        "POST", "/resource_providers", raw=b"{}", content_type="text/plain"
    )
    assert resp.status_code == 415
    resp = api.post("/resource_providers", {"name": ""})
    assert resp.status_code == 400
    resp = api.post(
        "/resource_providers", {"name": "a", "parent_provider_uuid": U2}
    )
    assert resp.status_code == 400
    assert "parent provider UUID does not exist" in _detail(resp)
    resp = api.post(
        "/resource_providers",
        {"name": "a", "uuid": U1, "parent_provider_uuid": U1},
    )
    assert resp.status_code == 400
    assert "parent provider UUID cannot be same as UUID" in _detail(resp)
    assert _count(api) == 0

    _create(api, "real", U1)
    for body in ({"name": "b", "uuid": U2}, {}, {"name": "x" * 201}):
        resp = api.put("/resource_providers/" + U1, body)
        assert resp.status_code == 400, body
    assert api.get("/resource_providers/" + U1).json["name"] == "real"
    # The provider is looked up before the body is read.
    resp = api.put("/resource_providers/" + U2, {"bad": 1})
    assert resp.status_code == 404
    resp = api.request("PUT", "/resource_providers/" + U2)
    assert resp.status_code == 415


def test_not_found(api):
    assert api.get("/resource_providers/" + U1).status_code == 404
    assert api.get("/resource_providers/not-a-uuid").status_code == 404
    resp = api.delete("/resource_providers/" + U1)
    assert resp.status_code == 404
    assert "found for delete" in _detail(resp)


def test_update_name_keeps_generation(api):
    _create(api, "before", U1)
    resp = api.put(
        "/resource_providers/" + U1, {"name": "after"}, version="1.15"
    )
    assert resp.status_code == 200
    assert resp.json["name"] == "after"
    assert resp.json["generation"] == 0
    assert resp.headers["cache-control"] == "no-cache"
    assert "last-modified" in resp.headers
    assert "location" not in resp.headers


def test_nesting_and_reparenting(api):
    _create(api, "root", U1)
    _create(api, "mid", U2, parent=U1)
    _create(api, "leaf", U3, parent=U2)
    _create(api, "other", U4)
    leaf = api.get("/resource_providers/" + U3).json
    assert leaf["parent_provider_uuid"] == U2
    assert leaf["root_provider_uuid"] == U1

    # No loops: not under itself nor under a descendant.
    for target, parent in ((U1, U3), (U2, U2), (U1, U2)):
        resp = api.put(
            "/resource_providers/" + target,
            {"name": "x", "parent_provider_uuid": parent},
        )
        assert resp.status_code == 400
        assert "creating loop" in _detail(resp)

    # Before 1.37 a parent can be gained but not changed or dropped.
    resp = api.put(
        "/resource_providers/" + U2,
        {"name": "mid", "parent_provider_uuid": U4},
        version="1.36",
    )
    assert resp.status_code == 400
    assert "re-parenting a provider is not currently allowed" in (
        _detail(resp)
    )
    resp = api.put(
        "/resource_providers/" + U2,
        {"name": "mid", "parent_provider_uuid": None},
        version="1.36",
    )
    assert resp.status_code == 400
    assert "un-parenting a provider is not currently allowed" in (
        _detail(resp)
    )
    resp = api.put(
        "/resource_providers/" + U2,
        {"name": "mid", "parent_provider_uuid": U1},
        version="1.36",
    )
    assert resp.status_code == 200
    resp = api.put(
        "/resource_providers/" + U2,
        {"name": "mid", "parent_provider_uuid": U3 + "0"},
    )
    assert resp.status_code == 400

    # 1.37: move mid (and leaf with it) under other, then make it a root.
    resp = api.put(
        "/resource_providers/" + U2,
        {"name": "mid", "parent_provider_uuid": U4},
    )
    assert resp.status_code == 200
    assert resp.json["root_provider_uuid"] == U4
    assert (
        api.get("/resource_providers/" + U3).json["root_provider_uuid"] == U4
    )
    assert _names(api.get("/resource_providers?in_tree=" + U1)) == ["root"]
    assert _names(api.get("/resource_providers?in_tree=" + U3)) == [
        "leaf",
        "mid",
        "other",
    ]
    resp = api.put(
        "/resource_providers/" + U2,
        {"name": "mid", "parent_provider_uuid": None},
    )
    assert resp.status_code == 200
    assert resp.json["root_provider_uuid"] == U2
    assert (
        api.get("/resource_providers/" + U3).json["root_provider_uuid"] == U2
    )

    # A name-only update keeps the parent.
    resp = api.put("/resource_providers/" + U3, {"name": "leaf2"})
    assert resp.json["parent_provider_uuid"] == U2
    # A root may gain a parent at 1.14.
    resp = api.put(
        "/resource_providers/" + U1,
        {"name": "root", "parent_provider_uuid": U3},
        version="1.14",
    )
    assert resp.status_code == 200
    assert resp.json["root_provider_uuid"] == U2


def test_delete(api):
    _create(api, "parent", U1)
    _create(api, "child", U2, parent=U1)
    resp = api.delete("/resource_providers/" + U1)
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == (
        "placement.resource_provider.cannot_delete_parent"
    )

    db = api.db
    with db.write() as conn:
        child_id = conn.scalar(
            sa.select(tables.resource_providers.c.id).where(
                tables.resource_providers.c.uuid == U2
            )
        )
        conn.execute(
            tables.inventories.insert().values(
                resource_provider_id=child_id,
                resource_class_id=0,
                total=4,
                reserved=0,
                min_unit=1,
                max_unit=4,
                step_size=1,
                allocation_ratio=1.0,
            )
        )
        conn.execute(
            tables.allocations.insert().values(
                resource_provider_id=child_id,
                resource_class_id=0,
                used=1,
                consumer_id=str(uuid.uuid4()),
            )
        )
    resp = api.delete("/resource_providers/" + U2)
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == (
        "placement.resource_provider.inuse"
    )
    with db.write() as conn:
        conn.execute(tables.allocations.delete())
    api.put("/resource_providers/%s/aggregates" % U2, [AGG1], version="1.1")

    assert api.delete("/resource_providers/" + U2).status_code == 204
    assert api.get("/resource_providers/" + U2).status_code == 404
    with db.read() as conn:
        for table in (tables.inventories, tables.resource_provider_aggregates):
            assert (
                conn.scalar(sa.select(sa.func.count()).select_from(table)) == 0
            )
    assert api.delete("/resource_providers/" + U1).status_code == 204
    assert _count(api) == 0


def _inventory(conn, provider_uuid, rc_id, total, **extra):
    rp = tables.resource_providers
    provider_id = conn.scalar(
        sa.select(rp.c.id).where(rp.c.uuid == provider_uuid)
    )
    values = {
        "resource_provider_id": provider_id,
        "resource_class_id": rc_id,
        "total": total,
        "reserved": 0,
        "min_unit": 1,
        "max_unit": total,
        "step_size": 1,
        "allocation_ratio": 1.0,
    }
    values.update(extra)
    conn.execute(tables.inventories.insert().values(**values))
    return provider_id


def _trait(conn, provider_uuid, trait_name):
    rp = tables.resource_providers
    provider_id = conn.scalar(
        sa.select(rp.c.id).where(rp.c.uuid == provider_uuid)
    )
    trait_id = conn.scalar(
        sa.select(tables.traits.c.id).where(tables.traits.c.name == trait_name)
    )
    conn.execute(
        tables.resource_provider_traits.insert().values(
            resource_provider_id=provider_id, trait_id=trait_id
        )
    )


def test_list_filters(api):
    _create(api, "a", U1)
    _create(api, "b", U2, parent=U1)
    _create(api, "c", U3)
    _create(api, "d", U4)
    api.put("/resource_providers/%s/aggregates" % U1, [AGG1], version="1.1")
    api.put(
        "/resource_providers/%s/aggregates" % U2, [AGG1, AGG2], version="1.1"
    )
    api.put("/resource_providers/%s/aggregates" % U3, [AGG2], version="1.1")
    with api.db.write() as conn:
        # VCPU (0): a 8 with 6 used, b 4 (max_unit 2), c 16 reserved 8
        # at ratio 2.0. MEMORY_MB (1): c only.
        a_id = _inventory(conn, U1, 0, 8)
        _inventory(conn, U2, 0, 4, max_unit=2)
        _inventory(
            conn, U3, 0, 16, reserved=8, allocation_ratio=2.0, step_size=2
        )
        _inventory(conn, U3, 1, 1024)
        conn.execute(
            tables.allocations.insert().values(
                resource_provider_id=a_id,
                resource_class_id=0,
                used=6,
                consumer_id=str(uuid.uuid4()),
            )
        )
        _trait(conn, U1, "HW_CPU_X86_AVX")
        _trait(conn, U2, "HW_CPU_X86_AVX")
        _trait(conn, U2, "HW_CPU_X86_SSE")
        _trait(conn, U3, "HW_CPU_X86_SSE")

    get = api.get
    assert _names(get("/resource_providers")) == ["a", "b", "c", "d"]
    assert _names(get("/resource_providers?name=c")) == ["c"]
    assert _names(get("/resource_providers?uuid=" + U4)) == ["d"]
    assert _names(get("/resource_providers?in_tree=" + U2)) == ["a", "b"]
    assert (
        _names(
            get(
                "/resource_providers?in_tree="
                "55555555-5555-4555-8555-555555555555"
            )
        )
        == []
    )

    assert _names(get("/resource_providers?member_of=" + AGG1)) == ["a", "b"]
    assert _names(
        get("/resource_providers?member_of=in:%s,%s" % (AGG1, AGG2))
    ) == ["a", "b", "c"]
    assert _names(
        get("/resource_providers?member_of=%s&member_of=%s" % (AGG1, AGG2))
    ) == ["b"]
    assert _names(get("/resource_providers?member_of=!" + AGG2)) == ["a", "d"]
    assert _names(
        get("/resource_providers?member_of=!in:%s,%s" % (AGG1, AGG2))
    ) == ["d"]
    assert (
        get(
            "/resource_providers?member_of=!" + AGG2, version="1.31"
        ).status_code
        == 400
    )
    assert (
        get(
            "/resource_providers?member_of=%s&member_of=%s" % (AGG1, AGG2),
            version="1.23",
        ).status_code
        == 400
    )
    assert (
        get("/resource_providers?member_of=" + AGG1, version="1.2").status_code
        == 400
    )

    assert _names(get("/resource_providers?resources=VCPU:2")) == [
        "a",
        "b",
        "c",
    ]
    # a: 6 used of 8; b: max_unit 2; c: (16 - 8) * 2 = 16, step 2.
    assert _names(get("/resource_providers?resources=VCPU:4")) == ["c"]
    assert _names(get("/resource_providers?resources=VCPU:3")) == []
    assert _names(get("/resource_providers?resources=VCPU:16")) == ["c"]
    assert _names(get("/resource_providers?resources=VCPU:15")) == []
    assert _names(get("/resource_providers?resources=VCPU:2,MEMORY_MB:1")) == [
        "c"
    ]
    resp = get("/resource_providers?resources=CUSTOM_NOPE:1")
    assert resp.status_code == 400
    assert "No such resource class CUSTOM_NOPE" in _detail(resp)
    assert (
        get("/resource_providers?resources=VCPU", version="1.4").status_code
        == 400
    )
    assert (
        get("/resource_providers?resources=VCPU:1", version="1.3").status_code
        == 400
    )

    assert _names(get("/resource_providers?required=HW_CPU_X86_AVX")) == [
        "a",
        "b",
    ]
    assert _names(
        get("/resource_providers?required=HW_CPU_X86_AVX,HW_CPU_X86_SSE")
    ) == ["b"]
    assert _names(get("/resource_providers?required=!HW_CPU_X86_AVX")) == [
        "c",
        "d",
    ]
    assert _names(
        get("/resource_providers?required=in:HW_CPU_X86_AVX,HW_CPU_X86_SSE")
    ) == ["a", "b", "c"]
    assert _names(
        get(
            "/resource_providers?required=in:HW_CPU_X86_AVX,"
            "HW_CPU_X86_SSE&required=!HW_CPU_X86_AVX"
        )
    ) == ["c"]
    # Before 1.39 only the last ``required`` counts.
    assert _names(
        get(
            "/resource_providers?required=HW_CPU_X86_AVX"
            "&required=HW_CPU_X86_SSE",
            version="1.38",
        )
    ) == ["b", "c"]
    resp = get("/resource_providers?required=HW_CPU_X86_AVX,CUSTOM_NOPE")
    assert resp.status_code == 400
    assert "No such trait(s): CUSTOM_NOPE." in _detail(resp)
    assert (
        get(
            "/resource_providers?required=!HW_CPU_X86_AVX", version="1.21"
        ).status_code
        == 400
    )
    assert (
        get(
            "/resource_providers?required=HW_CPU_X86_AVX", version="1.17"
        ).status_code
        == 400
    )

    assert _names(
        get(
            "/resource_providers?in_tree=%s&required="
            "HW_CPU_X86_SSE&resources=VCPU:2&member_of=%s" % (U1, AGG2)
        )
    ) == ["b"]


def test_list_bad_query(api):
    for query, version in (
        ("bogus=1", "1.39"),
        ("uuid=nope", "1.39"),
        ("in_tree=nope", "1.39"),
        ("in_tree=" + U1, "1.13"),
        ("member_of=nope", "1.39"),
        ("member_of=%s,%s" % (AGG1, AGG2), "1.39"),
        ("resources=", "1.39"),
        ("resources=VCPU:0", "1.39"),
        ("resources=VCPU:x", "1.39"),
    ):
        resp = api.get("/resource_providers?" + query, version=version)
        assert resp.status_code == 400, query
    resp = api.get("/resource_providers?bogus=1")
    assert "Invalid query string parameters" in _detail(resp)


def test_list_cache_headers(api):
    resp = api.get("/resource_providers", version="1.14")
    assert "last-modified" not in resp.headers
    resp = api.get("/resource_providers", version="1.15")
    assert resp.headers["cache-control"] == "no-cache"
    assert "last-modified" in resp.headers


def test_list_last_modified_is_the_latest_listed(api):
    # updated_at, or else created_at (a child provider has none updated),
    # of the providers listed; written through the change log as a write
    # of the service would be.
    _create(api, "root", U1)
    _create(api, "child", U2, parent=U1)
    rp = tables.resource_providers
    with api.db.write() as conn:
        conn.execute(
            rp.update()
            .where(rp.c.uuid == U1)
            .values(updated_at=datetime.datetime(2020, 1, 2, 3, 4, 5))
        )
        conn.execute(
            rp.update()
            .where(rp.c.uuid == U2)
            .values(
                created_at=datetime.datetime(2021, 3, 4, 5, 6, 7),
                updated_at=None,
            )
        )
        changes.record(
            conn,
            conn.scalars(sa.select(rp.c.id).where(rp.c.uuid.in_([U1, U2]))),
        )
    for query, stamp in (
        ("", "Thu, 04 Mar 2021 05:06:07 GMT"),
        ("?uuid=" + U1, "Thu, 02 Jan 2020 03:04:05 GMT"),
        ("?in_tree=" + U1, "Thu, 04 Mar 2021 05:06:07 GMT"),
    ):
        resp = api.get("/resource_providers" + query, version="1.15")
        assert resp.headers["last-modified"] == stamp, query


def test_list_compares_text_as_the_database_does(api, backend):
    # MySQL's collation ignores case and trailing spaces: the list answers
    # what its SQL would (the snapshot defers to it), the others compare
    # strings exactly.
    rp = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
    _create(api, "cn1", rp)
    resp = api.put(
        "/resource_providers/%s/aggregates" % rp,
        {"aggregates": [AGG1], "resource_provider_generation": 0},
    )
    assert resp.status_code == 200, resp.text
    expected = ["cn1"] if backend == "mysql" else []
    for query in (
        "name=CN1",
        "name=cn1%20",
        "uuid=" + rp.upper(),
        "in_tree=" + rp.upper(),
        "member_of=" + AGG1.upper(),
    ):
        resp = api.get("/resource_providers?" + query)
        assert _names(resp) == expected, query
    resp = api.get("/resource_providers?member_of=!" + AGG1.upper())
    assert _names(resp) == ([] if backend == "mysql" else ["cn1"])


def test_concurrent_reparenting_makes_no_loop(api):
    pairs = [
        (str(uuid.UUID(int=2 * i + 1)), str(uuid.UUID(int=2 * i + 2)))
        for i in range(6)
    ]
    for first, second in pairs:
        _create(api, "p" + first, first)
        _create(api, "p" + second, second)
    statuses = []

    def move(child, parent):
        statuses.append(
            api.put(
                "/resource_providers/" + child,
                {"name": "p" + child, "parent_provider_uuid": parent},
            ).status_code
        )

    threads = []
    for first, second in pairs:
        threads.append(threading.Thread(target=move, args=(first, second)))
        threads.append(threading.Thread(target=move, args=(second, first)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Of each pair exactly one move wins; the other would close a loop.
    assert sorted(statuses) == [200] * 6 + [400] * 6
    for first, second in pairs:
        roots = {
            api.get("/resource_providers/" + u).json["root_provider_uuid"]
            for u in (first, second)
        }
        assert len(roots) == 1
