"""GET /allotment/metrics: the Prometheus exposition.

In-process on every backend: requests by route template, method, status
and microversion, candidates returned and truncated, 409s, snapshot
figures, the optional capacity gauges, and who may scrape. Over HTTP:
a real server with two gunicorn workers, whose counters add up across
workers whichever of them answers the scrape, and whose gauges follow the
living workers.
"""

import os
import signal
import socket
import time
import urllib.request

from prometheus_client import parser

from tests import served
from tests import support

ROOT = "7f0fbd58-3a9a-4f1c-9a3e-0c8f3c1a0001"
CHILD = "7f0fbd58-3a9a-4f1c-9a3e-0c8f3c1a0002"
OTHER = "7f0fbd58-3a9a-4f1c-9a3e-0c8f3c1a0003"
AGG = "7f0fbd58-3a9a-4f1c-9a3e-0c8f3c1a00aa"
CONSUMER = "7f0fbd58-3a9a-4f1c-9a3e-0c8f3c1a00cc"


def samples(text):
    """{(name, frozenset of label items): value} of an exposition."""
    found = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            found[key] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(api, **kwargs):
    resp = api.get("/allotment/metrics", **kwargs)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return samples(resp.text)


def _provider(api, uuid, name, parent=None, inventories=None):
    body = {"name": name, "uuid": uuid}
    if parent:
        body["parent_provider_uuid"] = parent
    assert api.post("/resource_providers", body).status_code == 200
    if inventories:
        resp = api.put(
            "/resource_providers/%s/inventories" % uuid,
            {"resource_provider_generation": 0, "inventories": inventories},
        )
        assert resp.status_code == 200, resp.text


def test_requests_candidates_and_conflicts_are_counted(api):
    before = scrape(api)
    _provider(api, ROOT, "cn1", inventories={"VCPU": {"total": 8}})
    _provider(api, OTHER, "cn2", inventories={"VCPU": {"total": 8}})
    assert api.get("/resource_providers/" + CHILD).status_code == 404
    stale = api.put(
        "/resource_providers/%s/inventories" % ROOT,
        {"resource_provider_generation": 0, "inventories": {}},
    )
    assert stale.status_code == 409
    assert stale.json["errors"][0]["code"] == "placement.concurrent_update"
    resp = api.get("/allocation_candidates?resources=VCPU:1&limit=1")
    assert len(resp.json["allocation_requests"]) == 1
    resp = api.get("/allocation_candidates?resources=VCPU:1", version="1.10")
    assert len(resp.json["allocation_requests"]) == 2
    after = scrape(api)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "allotment_http_requests_total"
    assert (
        grew(
            requests,
            route="/resource_providers",
            method="POST",
            status="200",
            microversion="1.39",
        )
        == 2
    )
    assert (
        grew(
            requests,
            route="/resource_providers/{uuid}",
            method="GET",
            status="404",
            microversion="1.39",
        )
        == 1
    )
    assert (
        grew(
            requests,
            route="/allocation_candidates",
            method="GET",
            status="200",
            microversion="1.10",
        )
        == 1
    )
    assert (
        grew(
            "allotment_http_request_duration_seconds_count",
            route="/allocation_candidates",
            method="GET",
        )
        == 2
    )
    assert grew("allotment_allocation_candidates_returned_count") == 2
    assert grew("allotment_allocation_candidates_returned_sum") == 3
    assert grew("allotment_allocation_candidates_truncated_total") == 1
    assert (
        grew("allotment_conflicts_total", code="placement.concurrent_update")
        == 1
    )
    assert value(after, "allotment_snapshot_loaded") == 1
    assert value(after, "allotment_snapshot_providers") == 2
    assert value(after, "allotment_db_pool_capacity") >= 1
    assert (
        value(
            after,
            "allotment_snapshot_version_timestamp_seconds",
        )
        <= time.time()
    )
    assert grew("allotment_snapshot_loads_total", kind="partial") >= 1


def test_generation_races_retried_internally_are_counted(api, monkeypatch):
    """An allocation write whose provider generation moved under it is run
    again internally (and succeeds): the retry is counted."""
    from allotment.domain import allocations

    _provider(api, ROOT, "cn1", inventories={"VCPU": {"total": 8}})
    before = scrape(api)
    write = allocations.write
    raced = []

    def lose_once(conn, requests):
        if not raced:
            raced.append(1)
            raise allocations.ProviderRace()
        return write(conn, requests)

    monkeypatch.setattr(allocations, "write", lose_once)
    resp = api.put(
        "/allocations/" + CONSUMER,
        {
            "allocations": {ROOT: {"resources": {"VCPU": 2}}},
            "consumer_generation": None,
            "project_id": "p",
            "user_id": "u",
        },
        version="1.28",
    )
    assert resp.status_code == 204, resp.text
    after = scrape(api)
    assert (
        value(after, "allotment_write_retries_total", reason="generation")
        - value(before, "allotment_write_retries_total", reason="generation")
        == 1
    )


def test_capacity_gauges_per_root_and_aggregate(database_url):
    api = support.ApiClient.create(
        database_url, allotment__export_capacity_metrics=True
    )
    try:
        _provider(
            api,
            ROOT,
            "cn1",
            inventories={
                "VCPU": {"total": 8, "reserved": 2, "allocation_ratio": 4.0}
            },
        )
        _provider(
            api,
            CHILD,
            "cn1-numa0",
            parent=ROOT,
            inventories={"VCPU": {"total": 4}, "MEMORY_MB": {"total": 1024}},
        )
        resp = api.put(
            "/resource_providers/%s/aggregates" % CHILD,
            {"aggregates": [AGG], "resource_provider_generation": 1},
        )
        assert resp.status_code == 200, resp.text
        resp = api.put(
            "/allocations/" + CONSUMER,
            {
                "allocations": {
                    ROOT: {"resources": {"VCPU": 3}},
                    CHILD: {"resources": {"VCPU": 1, "MEMORY_MB": 512}},
                },
                "consumer_generation": None,
                "project_id": "p",
                "user_id": "u",
            },
            version="1.28",
        )
        assert resp.status_code == 204, resp.text
        found = scrape(api)
        root = {"root_provider_uuid": ROOT, "root_provider_name": "cn1"}
        assert (
            value(found, "allotment_root_provider_capacity", rc="VCPU", **root)
            == (8 - 2) * 4.0 + 4
        )
        assert (
            value(found, "allotment_root_provider_used", rc="VCPU", **root)
            == 4
        )
        assert (
            value(found, "allotment_root_provider_reserved", rc="VCPU", **root)
            == 2
        )
        assert (
            value(
                found, "allotment_root_provider_used", rc="MEMORY_MB", **root
            )
            == 512
        )
        agg = {"aggregate_uuid": AGG}
        assert (
            value(found, "allotment_aggregate_capacity", rc="VCPU", **agg) == 4
        )
        assert (
            value(found, "allotment_aggregate_used", rc="MEMORY_MB", **agg)
            == 512
        )
    finally:
        api.close()


def test_capacity_gauges_are_off_by_default(api):
    _provider(api, ROOT, "cn1", inventories={"VCPU": {"total": 8}})
    text = api.get("/allotment/metrics").text
    assert "allotment_root_provider_capacity" not in text


def test_who_may_scrape(sqlite_api, tmp_path):
    assert sqlite_api.get("/allotment/metrics", token=None).status_code == 401
    assert (
        sqlite_api.get("/allotment/metrics", token="user:p").status_code == 403
    )
    reader = sqlite_api.get(
        "/allotment/metrics",
        token="watcher",
        headers={"x-roles": "reader", "openstack-system-scope": "all"},
    )
    assert reader.status_code == 200, reader.text
    # A scraper in [allotment] metrics_allowed_source_ranges needs no
    # token; another address still does.
    api = support.ApiClient.create(
        "sqlite:///%s" % (tmp_path / "ranges.sqlite"),
        allotment__metrics_allowed_source_ranges=["192.0.2.0/24"],
    )
    try:
        allowed = api.get(
            "/allotment/metrics",
            token=None,
            remote_addr="192.0.2.7",
        )
        assert allowed.status_code == 200
        assert "allotment_http_requests" in allowed.text
        refused = api.get(
            "/allotment/metrics", token=None, remote_addr="198.51.100.1"
        )
        assert refused.status_code == 401
    finally:
        api.close()


# Two gunicorn workers ---------------------------------------------------


def _http(base, path):
    request = urllib.request.Request(base + path, headers=served.HEADERS)
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.read().decode()


def _served_samples(server):
    return samples(_http(server.base, "/allotment/metrics"))


def _worker_pids(found):
    return {
        dict(labels)["pid"]
        for (name, labels), v in found.items()
        if name == "allotment_snapshot_loaded" and v == 1
    }


def test_metrics_add_up_across_two_workers(tmp_path, make_database_url):
    conf = served.write_conf(tmp_path, make_database_url("sqlite"))
    server = served.Served.start(conf, workers=2)
    try:
        # Hold one worker on a half-sent request (sync workers take one
        # request at a time, connections in order): the other serves the
        # next five, then the held one serves its own. Both have served.
        held = socket.create_connection(("127.0.0.1", server.port))
        held.sendall(
            b"GET /resource_providers HTTP/1.1\r\nHost: x\r\n"
            b"x-auth-token: admin\r\n"
        )
        for _ in range(5):
            _http(server.base, "/resource_providers")
        held.sendall(b"\r\n")
        assert held.recv(12) == b"HTTP/1.1 200"
        held.close()
        log = server.log()
        pids = {
            line.split()[2]
            for line in log.splitlines()
            if "allotment.requests" in line and "/resource_providers" in line
        }
        assert len(pids) == 2, log
        for _ in range(4):  # whichever worker answers, the sum is the same
            found = _served_samples(server)
            served_rps = [
                v
                for (name, labels), v in found.items()
                if name == "allotment_http_requests_total"
                and dict(labels)["route"] == "/resource_providers"
                and dict(labels)["status"] == "200"
            ]
            assert sum(served_rps) == 6, served_rps
            assert _worker_pids(found) == pids
        # A worker killed: gunicorn replaces it, its gauges go, its
        # counts stay.
        dead = sorted(pids)[0]
        os.kill(int(dead), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            try:
                found = _served_samples(server)
            except OSError:
                found = {}
            live = _worker_pids(found)
            if len(live) == 2 and dead not in live:
                break
            assert time.monotonic() < deadline, live
            time.sleep(0.2)
        total = sum(
            v
            for (name, labels), v in found.items()
            if name == "allotment_http_requests_total"
            and dict(labels)["route"] == "/resource_providers"
        )
        assert total == 6
    finally:
        server.stop()
