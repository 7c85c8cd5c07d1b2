"""The provider snapshot stays exact across API instances.

Two application instances (as two worker processes would) share one
database; each keeps its own snapshot. Every write made through one must be
seen by the candidates of the other on its very next request.
"""

import threading
import uuid

from tests import support
from tests.functional.test_allocation_candidates import _provider

AC = "/allocation_candidates?"


def _seen(reader, query, version="1.39"):
    """{provider uuid: {class: amount}} of each candidate, and summaries."""
    resp = reader.get(AC + query, version=version)
    assert resp.status_code == 200, resp.text
    body = resp.json
    return ([{rp: a["resources"] for rp, a in ar["allocations"].items()}
             for ar in body["allocation_requests"]],
            body["provider_summaries"])


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
    resp = writer.put("/resource_providers/%s/inventories/VCPU" % cn1, {
        "resource_provider_generation": _generation(writer, cn1),
        "total": 1})
    assert resp.status_code == 200, resp.text
    assert _seen(reader, query)[0] == []
    resp = writer.put("/resource_providers/%s/inventories/VCPU" % cn1, {
        "resource_provider_generation": _generation(writer, cn1),
        "total": 4})
    assert resp.status_code == 200, resp.text

    _assert_exact(reader)

    # Allocation, then its removal.
    consumer = str(uuid.uuid4())
    resp = writer.put("/allocations/" + consumer, {
        "allocations": {cn1: {"resources": {"VCPU": 3}}},
        "project_id": str(uuid.uuid4()), "user_id": str(uuid.uuid4()),
        "consumer_generation": None}, version="1.28")
    assert resp.status_code == 204, resp.text
    candidates, summaries = _seen(reader, "resources=VCPU:1")
    assert summaries[cn1]["resources"]["VCPU"] == {"capacity": 4, "used": 3}
    assert _seen(reader, query)[0] == []
    assert writer.delete("/allocations/" + consumer).status_code == 204
    assert _seen(reader, query)[0] == [{cn1: {"VCPU": 2}}]

    _assert_exact(reader)

    # Traits.
    resp = writer.put("/resource_providers/%s/traits" % cn1, {
        "resource_provider_generation": _generation(writer, cn1),
        "traits": ["HW_CPU_X86_AVX2"]})
    assert resp.status_code == 200, resp.text
    candidates, summaries = _seen(reader, query + "&required=HW_CPU_X86_AVX2")
    assert candidates == [{cn1: {"VCPU": 2}}]
    assert summaries[cn1]["traits"] == ["HW_CPU_X86_AVX2"]
    assert _seen(reader, query + "&required=!HW_CPU_X86_AVX2")[0] == []

    _assert_exact(reader)

    # Aggregates, and a sharing provider joining the tree through one.
    agg = str(uuid.uuid4())
    resp = writer.put("/resource_providers/%s/aggregates" % cn1, {
        "resource_provider_generation": _generation(writer, cn1),
        "aggregates": [agg]})
    assert resp.status_code == 200, resp.text
    assert _seen(reader, query + "&member_of=" + agg)[0] == [
        {cn1: {"VCPU": 2}}]
    ss = _provider(writer, "ss", inventory={"DISK_GB": 100},
                   traits=["MISC_SHARES_VIA_AGGREGATE"], aggregates=[agg])
    assert _seen(reader, query + ",DISK_GB:10")[0] == [
        {cn1: {"VCPU": 2}, ss: {"DISK_GB": 10}}]
    resp = writer.put("/resource_providers/%s/aggregates" % cn1, {
        "resource_provider_generation": _generation(writer, cn1),
        "aggregates": []})
    assert resp.status_code == 200, resp.text
    assert _seen(reader, query + ",DISK_GB:10")[0] == []
    assert _seen(reader, query + "&member_of=" + agg)[0] == []

    _assert_exact(reader)

    # Re-parent: a new root takes cn1 (and its inventory) into its tree.
    root = _provider(writer, "root", inventory={"MEMORY_MB": 1024})
    resp = writer.put("/resource_providers/" + cn1, {
        "name": "cn1", "parent_provider_uuid": root}, version="1.37")
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
        {root: {"MEMORY_MB": 1}}]
    _assert_exact(reader)


def test_renamed_custom_class_is_shown_by_its_new_name(sqlite_api):
    rp = _provider(sqlite_api, "cn", inventory={"VCPU": 2})
    assert sqlite_api.put("/resource_classes/CUSTOM_OLD",
                          version="1.7").status_code == 201
    resp = sqlite_api.put("/resource_providers/%s/inventories" % rp, {
        "resource_provider_generation": _generation(sqlite_api, rp),
        "inventories": {"VCPU": {"total": 2}, "CUSTOM_OLD": {"total": 5}}})
    assert resp.status_code == 200, resp.text
    summaries = _seen(sqlite_api, "resources=VCPU:1")[1]
    assert set(summaries[rp]["resources"]) == {"VCPU", "CUSTOM_OLD"}
    resp = sqlite_api.put("/resource_classes/CUSTOM_OLD",
                          {"name": "CUSTOM_NEW"}, version="1.2")
    assert resp.status_code == 200, resp.text
    summaries = _seen(sqlite_api, "resources=VCPU:1")[1]
    assert set(summaries[rp]["resources"]) == {"VCPU", "CUSTOM_NEW"}


def test_threads_share_one_snapshot_while_writes_happen(tmp_path):
    """gthread workers: requests of one process use the snapshot in turn."""
    url = "sqlite:///%s" % (tmp_path / "placement.sqlite")
    writer = support.ApiClient.create(url)
    reader = support.ApiClient.create(url)
    providers = [_provider(writer, "cn%d" % n, inventory={"VCPU": 64})
                 for n in range(4)]
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
            resp = writer.put("/allocations/" + str(uuid.uuid4()), {
                "allocations": {providers[n % 4]: {"resources": {"VCPU": 1}}},
                "project_id": str(uuid.uuid4()),
                "user_id": str(uuid.uuid4()),
                "consumer_generation": None}, version="1.28")
            assert resp.status_code == 204, resp.text
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    summaries = _seen(reader, "resources=VCPU:1")[1]
    assert [summaries[rp]["resources"]["VCPU"]["used"]
            for rp in providers] == [5, 5, 5, 5]
    _assert_exact(reader)
    reader.close()
    writer.close()
