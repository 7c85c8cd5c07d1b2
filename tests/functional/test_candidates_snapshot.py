"""The provider snapshot stays exact across API instances.

Two application instances (as two worker processes would) share one
database; each keeps its own snapshot. Every write made through one must be
seen by the candidates of the other on its very next request.
"""

import threading
import uuid

import sqlalchemy as sa

from allotment.candidates import snapshot
from allotment.storage import changes
from allotment.storage import tables
from tests import support
from tests.functional.test_allocation_candidates import _provider

AC = "/allocation_candidates?"
RP = tables.resource_providers


def _seen(reader, query, version="1.39"):
    """{provider uuid: {class: amount}} of each candidate, and summaries."""
    resp = reader.get(AC + query, version=version)
    assert resp.status_code == 200, resp.text
    body = resp.json
    return (
        [
            {rp: a["resources"] for rp, a in ar["allocations"].items()}
            for ar in body["allocation_requests"]
        ],
        body["provider_summaries"],
    )


def _assert_exact(client):
    support.assert_snapshot_exact(client.db)


def _generation(api, rp):
    return api.get("/resource_providers/" + rp).json["generation"]


def test_writes_through_one_instance_are_seen_by_the_other(pair):
    writer, reader = pair
    cn1 = _provider(writer, "cn1", inventory={"VCPU": 8, "MEMORY_MB": 2048})
    query = "resources=VCPU:2"
    candidates, summaries = _seen(reader, query)
    assert candidates == [{cn1: {"VCPU": 2}}]
    assert summaries[cn1]["resources"]["VCPU"] == {"capacity": 8, "used": 0}

    # Inventory change.
    resp = writer.put(
        "/resource_providers/%s/inventories/VCPU" % cn1,
        {"resource_provider_generation": _generation(writer, cn1), "total": 1},
    )
    assert resp.status_code == 200, resp.text
    assert _seen(reader, query)[0] == []
    resp = writer.put(
        "/resource_providers/%s/inventories/VCPU" % cn1,
        {"resource_provider_generation": _generation(writer, cn1), "total": 4},
    )
    assert resp.status_code == 200, resp.text

    _assert_exact(reader)

    # Allocation, then its removal.
    consumer = str(uuid.uuid4())
    resp = writer.put(
        "/allocations/" + consumer,
        {
            "allocations": {cn1: {"resources": {"VCPU": 3}}},
            "project_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()),
            "consumer_generation": None,
        },
        version="1.28",
    )
    assert resp.status_code == 204, resp.text
    candidates, summaries = _seen(reader, "resources=VCPU:1")
    assert summaries[cn1]["resources"]["VCPU"] == {"capacity": 4, "used": 3}
    assert _seen(reader, query)[0] == []
    assert writer.delete("/allocations/" + consumer).status_code == 204
    assert _seen(reader, query)[0] == [{cn1: {"VCPU": 2}}]

    _assert_exact(reader)

    # Traits.
    resp = writer.put(
        "/resource_providers/%s/traits" % cn1,
        {
            "resource_provider_generation": _generation(writer, cn1),
            "traits": ["HW_CPU_X86_AVX2"],
        },
    )
    assert resp.status_code == 200, resp.text
    candidates, summaries = _seen(reader, query + "&required=HW_CPU_X86_AVX2")
    assert candidates == [{cn1: {"VCPU": 2}}]
    assert summaries[cn1]["traits"] == ["HW_CPU_X86_AVX2"]
    assert _seen(reader, query + "&required=!HW_CPU_X86_AVX2")[0] == []

    _assert_exact(reader)

    # Aggregates, and a sharing provider joining the tree through one.
    agg = str(uuid.uuid4())
    resp = writer.put(
        "/resource_providers/%s/aggregates" % cn1,
        {
            "resource_provider_generation": _generation(writer, cn1),
            "aggregates": [agg],
        },
    )
    assert resp.status_code == 200, resp.text
    assert _seen(reader, query + "&member_of=" + agg)[0] == [
        {cn1: {"VCPU": 2}}
    ]
    ss = _provider(
        writer,
        "ss",
        inventory={"DISK_GB": 100},
        traits=["MISC_SHARES_VIA_AGGREGATE"],
        aggregates=[agg],
    )
    assert _seen(reader, query + ",DISK_GB:10")[0] == [
        {cn1: {"VCPU": 2}, ss: {"DISK_GB": 10}}
    ]
    resp = writer.put(
        "/resource_providers/%s/aggregates" % cn1,
        {
            "resource_provider_generation": _generation(writer, cn1),
            "aggregates": [],
        },
    )
    assert resp.status_code == 200, resp.text
    assert _seen(reader, query + ",DISK_GB:10")[0] == []
    assert _seen(reader, query + "&member_of=" + agg)[0] == []

    _assert_exact(reader)

    # Re-parent: a new root takes cn1 (and its inventory) into its tree.
    root = _provider(writer, "root", inventory={"MEMORY_MB": 1024})
    resp = writer.put(
        "/resource_providers/" + cn1,
        {"name": "cn1", "parent_provider_uuid": root},
        version="1.37",
    )
    assert resp.status_code == 200, resp.text
    candidates, summaries = _seen(reader, query + "&in_tree=" + root)
    assert candidates == [{cn1: {"VCPU": 2}}]
    assert summaries[cn1]["root_provider_uuid"] == root
    assert summaries[cn1]["parent_provider_uuid"] == root
    assert set(summaries) == {root, cn1}

    _assert_exact(reader)

    # Delete.
    assert writer.delete("/resource_providers/" + ss).status_code == 204
    assert _seen(reader, "resources=DISK_GB:1")[0] == []
    assert writer.delete("/resource_providers/" + cn1).status_code == 204
    assert _seen(reader, query)[0] == []
    assert _seen(reader, "resources=MEMORY_MB:1")[0] == [
        {root: {"MEMORY_MB": 1}}
    ]
    _assert_exact(reader)


def test_renamed_custom_class_is_shown_by_its_new_name(sqlite_api):
    rp = _provider(sqlite_api, "cn", inventory={"VCPU": 2})
    assert (
        sqlite_api.put(
            "/resource_classes/CUSTOM_OLD", version="1.7"
        ).status_code
        == 201
    )
    resp = sqlite_api.put(
        "/resource_providers/%s/inventories" % rp,
        {
            "resource_provider_generation": _generation(sqlite_api, rp),
            "inventories": {"VCPU": {"total": 2}, "CUSTOM_OLD": {"total": 5}},
        },
    )
    assert resp.status_code == 200, resp.text
    summaries = _seen(sqlite_api, "resources=VCPU:1")[1]
    assert set(summaries[rp]["resources"]) == {"VCPU", "CUSTOM_OLD"}
    resp = sqlite_api.put(
        "/resource_classes/CUSTOM_OLD", {"name": "CUSTOM_NEW"}, version="1.2"
    )
    assert resp.status_code == 200, resp.text
    summaries = _seen(sqlite_api, "resources=VCPU:1")[1]
    assert set(summaries[rp]["resources"]) == {"VCPU", "CUSTOM_NEW"}


def test_a_refresh_finding_nothing_new_keeps_the_version(sqlite_api):
    # With the rows with room, anchors and rendered entries it cached; a
    # renamed class (which the change log does not name) makes a new one.
    rp = _provider(sqlite_api, "cn1", inventory={"VCPU": 2})
    snap = snapshot.for_database(sqlite_api.db)
    kept = snap.version()
    assert snap.version() is kept
    resp = sqlite_api.put("/resource_classes/CUSTOM_OLD", version="1.7")
    assert resp.status_code == 201, resp.text
    resp = sqlite_api.put(
        "/resource_providers/%s/inventories" % rp,
        {
            "resource_provider_generation": _generation(sqlite_api, rp),
            "inventories": {"CUSTOM_OLD": {"total": 5}},
        },
    )
    assert resp.status_code == 200, resp.text
    held = snap.version()
    assert held is not kept
    assert snap.version() is held
    resp = sqlite_api.put(
        "/resource_classes/CUSTOM_OLD", {"name": "CUSTOM_NEW"}, version="1.2"
    )
    assert resp.status_code == 200, resp.text
    renamed = snap.version()
    assert renamed is not held
    assert "CUSTOM_NEW" in renamed.rc_names.values()
    assert snap.version() is renamed


def test_threads_share_one_snapshot_while_writes_happen(tmp_path):
    """gthread workers: requests of one process use the snapshot in turn."""
    url = "sqlite:///%s" % (tmp_path / "placement.sqlite")
    writer = support.ApiClient.create(url)
    reader = support.ApiClient.create(url)
    providers = [
        _provider(writer, "cn%d" % n, inventory={"VCPU": 64}) for n in range(4)
    ]
    errors = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            resp = reader.get(AC + "resources=VCPU:1")
            if resp.status_code != 200:
                errors.append(resp.text)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(20):
            resp = writer.put(
                "/allocations/" + str(uuid.uuid4()),
                {
                    "allocations": {
                        providers[n % 4]: {"resources": {"VCPU": 1}}
                    },
                    "project_id": str(uuid.uuid4()),
                    "user_id": str(uuid.uuid4()),
                    "consumer_generation": None,
                },
                version="1.28",
            )
            assert resp.status_code == 204, resp.text
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    summaries = _seen(reader, "resources=VCPU:1")[1]
    assert [
        summaries[rp]["resources"]["VCPU"]["used"] for rp in providers
    ] == [5, 5, 5, 5]
    _assert_exact(reader)
    reader.close()
    writer.close()


def _full_loads(client):
    return snapshot.for_database(client.db).counters()["full_loads"]


def test_rows_left_empty_or_moved_are_packed_by_a_full_load(pair, monkeypatch):
    """Deleted providers leave their rows empty and providers whose classes
    change move their inventories: a full load packs them once more than
    half are wasted, and meanwhile every answer is exact."""
    monkeypatch.setattr(snapshot, "_WASTE_SLACK", 0)
    writer, reader = pair
    rps = [
        _provider(writer, "cn%d" % n, inventory={"VCPU": 4}) for n in range(4)
    ]
    assert len(_seen(reader, "resources=VCPU:1")[0]) == 4
    loads = _full_loads(reader)
    gen = _generation(writer, rps[0])
    resp = writer.put(
        "/resource_providers/%s/inventories" % rps[0],
        {
            "resource_provider_generation": gen,
            "inventories": {"VCPU": {"total": 4}, "MEMORY_MB": {"total": 64}},
        },
    )
    assert resp.status_code == 200, resp.text
    candidates, summaries = _seen(reader, "resources=VCPU:1,MEMORY_MB:8")
    assert candidates == [{rps[0]: {"VCPU": 1, "MEMORY_MB": 8}}]
    assert summaries[rps[0]]["resources"]["MEMORY_MB"]["capacity"] == 64
    assert _full_loads(reader) == loads  # one provider's inventories moved
    _assert_exact(reader)
    for rp in rps[1:]:
        assert writer.delete("/resource_providers/" + rp).status_code == 204
    assert len(_seen(reader, "resources=VCPU:1")[0]) == 1
    assert _full_loads(reader) == loads + 1
    _assert_exact(reader)


def test_a_new_provider_below_an_id_held_brings_a_full_load(pair):
    """Rows follow ids: a provider whose id is below one held (ids handed
    out out of order) cannot be appended, the snapshot loads everything."""
    writer, _reader = pair
    rps = [
        _provider(writer, "cn%d" % n, inventory={"VCPU": 4}) for n in range(3)
    ]
    assert writer.delete("/resource_providers/" + rps[1]).status_code == 204
    late = support.ApiClient.create(writer.conf.placement_database.connection)
    try:
        assert len(_seen(late, "resources=VCPU:1")[0]) == 2
        loads = _full_loads(late)
        with writer.db.read() as conn:
            gone = conn.scalar(sa.select(sa.func.max(RP.c.id))) - 1
        new = str(uuid.uuid4())
        with writer.db.write() as conn:
            conn.execute(
                RP.insert().values(
                    id=gone,
                    uuid=new,
                    name="late",
                    generation=0,
                    root_provider_id=gone,
                )
            )
            changes.record(conn, [gone])
        assert _seen(late, "resources=VCPU:1")[1].keys() == {rps[0], rps[2]}
        assert _full_loads(late) == loads + 1
        support.assert_snapshot_exact(late.db)
        assert late.get("/resource_providers/" + new).status_code == 200
    finally:
        late.close()


def test_a_provider_without_root_is_its_own_root(api):
    """A provider whose root_provider_id is NULL (a reference database
    before its online data migrations, SQL by hand) is its own root in the
    snapshot, as the migration would make it, and its fingerprint agrees
    with the database's; it once made every candidates request answer 500
    (KeyError: None)."""
    from allotment.candidates import fingerprint

    cn = _provider(api, "cn", inventory={"VCPU": 4})
    with api.db.write() as conn:
        conn.execute(
            RP.update().where(RP.c.uuid == cn).values(root_provider_id=None)
        )
        changes.record_everything(conn)
    found, summaries = _seen(api, "resources=VCPU:1")
    assert found == [{cn: {"VCPU": 1}}]
    assert list(summaries) == [cn]
    version = snapshot.for_database(api.db).version()
    with api.db.read() as conn:
        stored = fingerprint.of_database(conn)
    assert fingerprint.compare(fingerprint.of_version(version), stored) == []
    _assert_exact(api)


def test_rows_with_room_asked_of_alternate_versions_are_derived(
    sqlite_api, monkeypatch
):
    """A boot storm: each claim makes a new version, and the two kinds of
    request (different amounts) each see only some of them. An entry asked
    of any earlier version is derived from it, re-checking just the rows
    changed since, not found again by scanning every provider of the
    class; and it is exact."""
    for n in range(4):
        _provider(sqlite_api, "cn%d" % n, inventory={"VCPU": 8})
    scans = []
    scan = snapshot.Version._fitting_all
    monkeypatch.setattr(
        snapshot.Version,
        "_fitting_all",
        lambda self, *key: scans.append(key) or scan(self, *key),
    )
    for query in ("resources=VCPU:1", "resources=VCPU:4"):
        _seen(sqlite_api, query)
    assert len(scans) == 2
    for n in range(6):
        query = "resources=VCPU:%d" % (1 if n % 2 else 4)
        claims = _seen(sqlite_api, query + "&limit=1")[0]
        assert claims
        consumer = str(uuid.uuid4())
        resp = sqlite_api.put(
            "/allocations/" + consumer,
            {
                "allocations": {
                    rp: {"resources": resources}
                    for rp, resources in claims[0].items()
                },
                "project_id": str(uuid.uuid4()),
                "user_id": str(uuid.uuid4()),
                "consumer_generation": None,
            },
            version="1.28",
        )
        assert resp.status_code == 204, resp.text
    assert len(scans) == 2
    _assert_exact(sqlite_api)
