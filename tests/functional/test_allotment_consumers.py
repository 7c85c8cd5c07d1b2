"""GET /allotment/consumers: filters, totals, pagination and bad input, on
every backend."""

import datetime
import urllib.parse
import uuid

import pytest

from allotment.storage import tables
from tests.functional.test_usages import allocate
from tests.functional.test_usages import make_provider


def consumers(api, query=""):
    resp = api.get("/allotment/consumers" + query)
    assert resp.status_code == 200, resp.text
    return resp.json


def set_written(api, consumer, when):
    with api.db.write() as conn:
        conn.execute(
            tables.consumers.update()
            .where(tables.consumers.c.uuid == consumer)
            .values(created_at=when, updated_at=None)
        )


@pytest.fixture
def cloud(api):
    """Two providers; four consumers of two projects, three types."""
    rp1 = make_provider(api, {"VCPU": 16, "MEMORY_MB": 4096}, name="rp1")
    rp2 = make_provider(api, {"VCPU": 16, "DISK_GB": 100}, name="rp2")
    c = {
        "a": allocate(
            api, rp1, {"VCPU": 2, "MEMORY_MB": 512}, consumer_type="INSTANCE"
        ),
        "b": allocate(api, rp1, {"VCPU": 1}, user="u2"),
        "c": allocate(
            api, rp2, {"DISK_GB": 10}, project="p2", consumer_type="MIGRATION"
        ),
    }
    # a consumer on both providers
    d = str(uuid.uuid4())
    resp = api.put(
        "/allocations/" + d,
        {
            "allocations": {
                rp1: {"resources": {"VCPU": 1}},
                rp2: {"resources": {"VCPU": 3, "DISK_GB": 5}},
            },
            "project_id": "p2",
            "user_id": "u1",
            "consumer_generation": None,
            "consumer_type": "INSTANCE",
        },
        version="1.38",
    )
    assert resp.status_code == 204, resp.text
    c["d"] = d
    return rp1, rp2, c


def test_lists_consumers_with_owner_type_and_totals(api, cloud):
    _rp1, _rp2, c = cloud
    listed = consumers(api)["consumers"]
    assert [x["uuid"] for x in listed] == sorted(c.values())
    by_uuid = {x["uuid"]: x for x in listed}
    a = by_uuid[c["a"]]
    assert a["project_id"] == "p1"
    assert a["user_id"] == "u1"
    assert a["consumer_type"] == "INSTANCE"
    assert a["generation"] == 1
    assert a["allocations"] == {"VCPU": 2, "MEMORY_MB": 512}
    assert a["created_at"].endswith("Z")
    datetime.datetime.fromisoformat(a["created_at"])
    assert by_uuid[c["b"]]["consumer_type"] == "unknown"
    assert by_uuid[c["d"]]["allocations"] == {"VCPU": 4, "DISK_GB": 5}
    assert "links" not in consumers(api)


def test_filters(api, cloud):
    rp1, rp2, c = cloud

    def uuids(query):
        return {x["uuid"] for x in consumers(api, query)["consumers"]}

    assert uuids("?project_id=p1") == {c["a"], c["b"]}
    assert uuids("?project_id=p1&user_id=u2") == {c["b"]}
    assert uuids("?user_id=u1") == {c["a"], c["c"], c["d"]}
    assert uuids("?consumer_type=INSTANCE") == {c["a"], c["d"]}
    assert uuids("?consumer_type=unknown") == {c["b"]}
    assert uuids("?consumer_type=NOPE") == set()
    assert uuids("?provider=" + rp1) == {c["a"], c["b"], c["d"]}
    assert uuids("?provider=" + rp2) == {c["c"], c["d"]}
    assert uuids("?provider=%s&project_id=p2" % rp1) == {c["d"]}
    assert uuids("?provider=" + str(uuid.uuid4())) == set()
    # totals stay the consumer's over every provider
    only = consumers(api, "?provider=%s&project_id=p2" % rp1)["consumers"]
    assert only[0]["allocations"] == {"VCPU": 4, "DISK_GB": 5}


def test_updated_before(api, cloud):
    _rp1, _rp2, c = cloud
    set_written(api, c["a"], datetime.datetime(2020, 1, 1, 12, 0, 0))
    set_written(api, c["b"], datetime.datetime(2021, 1, 1, 12, 0, 0))

    def uuids(when):
        query = urllib.parse.urlencode({"updated_before": when})
        return {x["uuid"] for x in consumers(api, "?" + query)["consumers"]}

    assert uuids("2020-06-01T00:00:00Z") == {c["a"]}
    assert uuids("2021-01-01T12:00:01") == {c["a"], c["b"]}
    # 13:00 at UTC+1 is 12:00 UTC: b was written at, not before, it
    assert uuids("2021-01-01T13:00:00+01:00") == {c["a"]}
    assert uuids("2019-01-01") == set()
    assert uuids("0001-01-01T00:00:00") == set()
    assert uuids("9999-12-31T23:59:59") == set(c.values())


def test_pages_follow_markers_in_uuid_order(api):
    rp = make_provider(api, {"VCPU": 100})
    made = sorted(allocate(api, rp, {"VCPU": 1}) for _ in range(7))
    seen = []
    query = "?limit=3"
    pages = 0
    while True:
        body = consumers(api, query)
        pages += 1
        seen += [x["uuid"] for x in body["consumers"]]
        if "links" not in body:
            break
        (link,) = body["links"]
        assert link["rel"] == "next"
        path, _sep, query = link["href"].partition("?")
        assert path == "/allotment/consumers"
        query = "?" + query
        assert "marker=" + seen[-1] in query
    assert seen == made
    assert pages == 3
    # a page that ends exactly at the last consumer has no next link
    assert "links" not in consumers(api, "?limit=7")
    assert consumers(api, "?marker=" + made[-1])["consumers"] == []
    after = consumers(api, "?limit=2&marker=" + made[2])["consumers"]
    assert [x["uuid"] for x in after] == made[3:5]


def test_a_consumer_without_allocations_is_listed_empty(api, cloud):
    _rp1, _rp2, c = cloud
    with api.db.write() as conn:
        conn.execute(
            tables.allocations.delete().where(
                tables.allocations.c.consumer_id == c["b"]
            )
        )
    listed = consumers(api, "?project_id=p1&user_id=u2")["consumers"]
    assert listed[0]["allocations"] == {}


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-1",
        "limit=abc",
        "limit=1001",
        "marker=not-a-uuid",
        "provider=42",
        "updated_before=yesterday",
        # out of range once moved to UTC
        "updated_before=0001-01-01T00:00:00%2B01:00",
        "updated_before=9999-12-31T23:00:00-05:00",
        "consumer_type=lower",
        "project_id=",
        "colour=blue",
        "project_id=a&project_id=b",
    ],
)
def test_bad_values_answer_400(sqlite_api, query):
    resp = sqlite_api.get("/allotment/consumers?" + query)
    assert resp.status_code == 400, resp.text
    (error,) = resp.json["errors"]
    assert error["status"] == 400
    assert error["title"] == "Bad Request"
    assert error["request_id"]


def test_reader_rule(sqlite_api):
    resp = sqlite_api.get("/allotment/consumers", token="alice:proj")
    assert resp.status_code == 403
    assert "allotment:consumers:list" in resp.json["errors"][0]["detail"]


def test_no_consumers(api):
    assert consumers(api) == {"consumers": []}
