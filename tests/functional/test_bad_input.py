"""Hostile input on every route: never a 5xx, always Placement's error
format, and a refused request writes nothing.

A seeded generator sends odd path values, bodies and query strings at
several microversions; the database's row counts are compared before and
after every refused write.
"""

import random

import orjson
import pytest
import sqlalchemy as sa

from allotment.storage import tables

RP_UUID = "4e8e5957-649f-477b-9e5b-f1f75b21c03c"
CONSUMER = "0b5d0c7e-36a7-4d3b-9f7e-5a3c8d7e2f11"

ROUTES = [
    ("/", ["GET"]),
    ("/resource_classes", ["GET", "POST"]),
    ("/resource_classes/{name}", ["GET", "PUT", "DELETE"]),
    ("/resource_providers", ["GET", "POST"]),
    ("/resource_providers/{uuid}", ["GET", "PUT", "DELETE"]),
    (
        "/resource_providers/{uuid}/inventories",
        ["GET", "POST", "PUT", "DELETE"],
    ),
    (
        "/resource_providers/{uuid}/inventories/{name}",
        ["GET", "PUT", "DELETE"],
    ),
    ("/resource_providers/{uuid}/usages", ["GET"]),
    ("/resource_providers/{uuid}/aggregates", ["GET", "PUT"]),
    ("/resource_providers/{uuid}/allocations", ["GET"]),
    ("/resource_providers/{uuid}/traits", ["GET", "PUT", "DELETE"]),
    ("/allocations", ["POST"]),
    ("/allocations/{uuid}", ["GET", "PUT", "DELETE"]),
    ("/allocation_candidates", ["GET"]),
    ("/traits", ["GET"]),
    ("/traits/{name}", ["GET", "PUT", "DELETE"]),
    ("/usages", ["GET"]),
    ("/reshaper", ["POST"]),
]

NAMES = [
    "VCPU",
    "CUSTOM_X",
    "custom_lower",
    "CUSTOM_" + "A" * 300,
    "",
    "%E2%98%83",
    "..",
    "CUSTOM_%00",
    "DISK_GB",
]
UUIDS = [
    RP_UUID,
    CONSUMER,
    "not-a-uuid",
    "4e8e5957649f477b9e5bf1f75b21c03c",
    "%E2%98%83",
    "x" * 500,
]
QUERIES = [
    "",
    "resources=",
    "resources=VCPU",
    "resources=VCPU:-1",
    "resources=VCPU:1,VCPU:2",
    "resources=NOPE:1",
    "resources=VCPU:1.5",
    "resources=VCPU:99999999999999999999",
    "required=",
    "required=!",
    "required=in:",
    "required=in:A,!B",
    "required=NOPE",
    "member_of=in:",
    "member_of=bad",
    "member_of=!in:x,y",
    "in_tree=bad",
    "limit=-1",
    "limit=abc",
    "limit=0",
    "group_policy=bad",
    "resources1=VCPU:1",
    "resources_=VCPU:1",
    "resourcesX!=VCPU:1",
    "same_subtree=_A",
    "root_required=!",
    "name=%00",
    "uuid=bad",
    "project_id=",
    "user_id=x&user_id=y",
    "consumer_type=bad type",
    "associated=maybe",
    "name=in:",
    "name=startswith:",
    "resources=VCPU:1&resources=MEMORY_MB:1",
    "unknown=1",
    "resources=%E2%98%83:1",
    "required=%E2%98%83",
]


def _bodies(rng):
    scalars = [
        None,
        True,
        0,
        -1,
        1.5,
        2**63,
        "",
        "x",
        "☃" * 3,
        RP_UUID,
        "VCPU",
    ]
    shapes = [
        {},
        [],
        {"name": None},
        {"name": 5},
        {"name": "CUSTOM_OK"},
        {"uuid": "bad", "name": "x"},
        {"name": "x" * 300},
        {"resource_provider_generation": "1", "inventories": {}},
        {
            "resource_provider_generation": 0,
            "inventories": {"VCPU": {"total": -1}},
        },
        {
            "resource_provider_generation": 0,
            "inventories": {"NOPE": {"total": 1}},
        },
        {"resource_provider_generation": 0, "traits": ["NOPE"]},
        {"resource_provider_generation": 0, "aggregates": ["bad"]},
        {
            "allocations": {RP_UUID: {"resources": {"VCPU": 0}}},
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": None,
            "consumer_type": "INSTANCE",
        },
        {
            "allocations": {"bad": {"resources": {"VCPU": 1}}},
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": "x",
        },
        {CONSUMER: {"allocations": {}, "project_id": 1}},
        {
            "inventories": {
                RP_UUID: {
                    "inventories": {},
                    "resource_provider_generation": -5,
                }
            },
            "allocations": {},
        },
        {"resource_class": "VCPU", "total": "lots"},
        {"total": 2**40},
        {"a": {"b": {"c": {"d": [[[[]]]]}}}},
    ]
    for _ in range(4):
        shapes.append(
            {
                rng.choice(
                    [
                        "name",
                        "uuid",
                        "total",
                        "allocations",
                        "parent_provider_uuid",
                        "traits",
                    ]
                ): rng.choice(scalars)
            }
        )
    return [orjson.dumps(s) for s in shapes] + [
        b"{",
        b"[1,",
        b"\xff\xfe",
        b"null",
        b'"str"',
        b"1e999",
    ]


def _counts(api):
    with api.db.read() as conn:
        return {
            t.name: conn.scalar(sa.select(sa.func.count()).select_from(t))
            for t in tables.metadata.sorted_tables
        }


def _seed(api):
    assert (
        api.post(
            "/resource_providers", {"name": "seed", "uuid": RP_UUID}
        ).status_code
        == 200
    )
    assert (
        api.put(
            "/resource_providers/%s/inventories" % RP_UUID,
            {
                "resource_provider_generation": 0,
                "inventories": {"VCPU": {"total": 8}},
            },
        ).status_code
        == 200
    )


def _check(resp, method, path):
    where = "%s %s -> %s %s" % (
        method,
        path,
        resp.status_code,
        resp.text[:300],
    )
    assert resp.status_code < 500, where
    if resp.status_code >= 400:
        body = resp.json
        assert body["errors"][0]["status"] == resp.status_code, where
        assert body["errors"][0]["detail"], where


@pytest.mark.parametrize("version", ["1.0", "1.14", "1.28", "1.39"])
def test_hostile_requests_never_500_and_never_half_write(api, version):
    _seed(api)
    rng = random.Random(version)
    bodies = _bodies(rng)
    for template, methods in ROUTES:
        for method in methods:
            for _ in range(12):
                path = template.replace("{uuid}", rng.choice(UUIDS))
                path = path.replace("{name}", rng.choice(NAMES))
                query = rng.choice(QUERIES)
                if method in ("GET", "DELETE"):
                    if query:
                        path += "?" + query
                    resp = api.request(method, path, version=version)
                    _check(resp, method, path)
                    continue
                before = _counts(api)
                raw = rng.choice(bodies)
                content_type = rng.choice(
                    [
                        "application/json",
                        "application/json",
                        "text/plain",
                        None,
                    ]
                )
                resp = api.request(
                    method,
                    path,
                    version=version,
                    raw=raw,
                    content_type=content_type,
                )
                _check(resp, method, path)
                if resp.status_code >= 400:
                    assert _counts(api) == before, (method, path, raw)
