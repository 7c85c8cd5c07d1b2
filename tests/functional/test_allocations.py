"""Allocations and consumers through the WSGI app, on every backend."""

import uuid

import pytest
import sqlalchemy as sa

from allotment.storage import tables

INCOMPLETE = "00000000-0000-0000-0000-000000000000"
PROJECT = "6d2e4a4c-0a8e-4b5a-9c1e-1f2a3b4c5d6e"
USER = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def make_provider(api, name, inventories, parent=None):
    rp_uuid = str(uuid.uuid4())
    body = {"name": name, "uuid": rp_uuid}
    if parent:
        body["parent_provider_uuid"] = parent
    assert api.post(
        "/resource_providers", body, version="1.14"
    ).status_code in (200, 201)
    if inventories:
        resp = api.put(
            "/resource_providers/%s/inventories" % rp_uuid,
            {"resource_provider_generation": 0, "inventories": inventories},
        )
        assert resp.status_code == 200, resp.text
    return rp_uuid


def generation(api, rp_uuid):
    return api.get("/resource_providers/%s" % rp_uuid).json["generation"]


def usages(api, rp_uuid):
    return api.get("/resource_providers/%s/usages" % rp_uuid).json["usages"]


def claim(
    api, consumer, allocations, generation_=None, version="1.28", **extra
):
    body = {
        "allocations": {
            rp: {"resources": res} for rp, res in allocations.items()
        },
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": generation_,
    }
    body.update(extra)
    return api.put("/allocations/%s" % consumer, body, version=version)


@pytest.fixture
def compute(api):
    return make_provider(
        api,
        "cn1",
        {
            "VCPU": {"total": 8, "allocation_ratio": 2.0, "max_unit": 8},
            "MEMORY_MB": {
                "total": 4096,
                "reserved": 512,
                "step_size": 256,
                "min_unit": 256,
                "max_unit": 4096,
            },
            "DISK_GB": {"total": 100},
        },
    )


def test_claim_read_and_delete(api, compute):
    consumer = str(uuid.uuid4())
    gen = generation(api, compute)
    resp = claim(api, consumer, {compute: {"VCPU": 2, "MEMORY_MB": 512}})
    assert resp.status_code == 204, resp.text
    assert generation(api, compute) == gen + 1

    body = api.get("/allocations/%s" % consumer, version="1.38").json
    assert body == {
        "allocations": {
            compute: {
                "generation": gen + 1,
                "resources": {"VCPU": 2, "MEMORY_MB": 512},
            }
        },
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": 1,
        "consumer_type": "unknown",
    }
    old = api.get("/allocations/%s" % consumer, version="1.0").json
    assert old == {
        "allocations": {
            compute: {
                "generation": gen + 1,
                "resources": {"VCPU": 2, "MEMORY_MB": 512},
            }
        }
    }

    by_rp = api.get(
        "/resource_providers/%s/allocations" % compute, version="1.28"
    ).json
    assert by_rp["allocations"] == {
        consumer: {
            "resources": {"VCPU": 2, "MEMORY_MB": 512},
            "consumer_generation": 1,
        }
    }
    assert by_rp["resource_provider_generation"] == gen + 1

    assert api.delete("/allocations/%s" % consumer).status_code == 204
    assert api.get("/allocations/%s" % consumer).json == {"allocations": {}}
    resp = api.delete("/allocations/%s" % consumer)
    assert resp.status_code == 404
    assert "No allocations for consumer" in resp.json["errors"][0]["detail"]
    assert usages(api, compute) == {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}


def test_list_form_and_incomplete_consumer(api, compute):
    consumer = str(uuid.uuid4())
    resp = api.put(
        "/allocations/%s" % consumer,
        {
            "allocations": [
                {
                    "resource_provider": {"uuid": compute},
                    "resources": {"DISK_GB": 10},
                }
            ]
        },
        version="1.0",
    )
    assert resp.status_code == 204, resp.text
    body = api.get("/allocations/%s" % consumer, version="1.12").json
    assert body["project_id"] == INCOMPLETE
    assert body["user_id"] == INCOMPLETE
    # 1.8 to 1.11: the list form with an owner.
    resp = api.put(
        "/allocations/%s" % consumer,
        {
            "allocations": [
                {
                    "resource_provider": {"uuid": compute},
                    "resources": {"DISK_GB": 20},
                }
            ],
            "project_id": PROJECT,
            "user_id": USER,
        },
        version="1.8",
    )
    assert resp.status_code == 204, resp.text
    body = api.get("/allocations/%s" % consumer, version="1.12").json
    assert body["project_id"] == PROJECT
    assert body["allocations"][compute]["resources"] == {"DISK_GB": 20}


def test_consumer_generations(api, compute):
    consumer = str(uuid.uuid4())
    resp = claim(api, consumer, {compute: {"VCPU": 1}}, generation_=3)
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == "placement.concurrent_update"
    assert "expected null but got 3" in resp.json["errors"][0]["detail"]
    assert api.get("/allocations/%s" % consumer).json == {"allocations": {}}

    assert claim(api, consumer, {compute: {"VCPU": 1}}).status_code == 204
    resp = claim(api, consumer, {compute: {"VCPU": 2}})
    assert resp.status_code == 409
    assert "expected 1 but got None" in resp.json["errors"][0]["detail"]
    assert (
        claim(api, consumer, {compute: {"VCPU": 2}}, generation_=1).status_code
        == 204
    )
    body = api.get("/allocations/%s" % consumer, version="1.28").json
    assert body["consumer_generation"] == 2
    # 1.28: empty allocations remove them (and the consumer).
    assert claim(api, consumer, {}, generation_=2).status_code == 204
    assert api.get("/allocations/%s" % consumer).json == {"allocations": {}}
    assert claim(api, consumer, {compute: {"VCPU": 1}}).status_code == 204


def test_capacity_rules(api, compute):
    # VCPU capacity (8 - 0) * 2.0 = 16, max_unit 8.
    first = str(uuid.uuid4())
    assert claim(api, first, {compute: {"VCPU": 8}}).status_code == 204
    second = str(uuid.uuid4())
    assert claim(api, second, {compute: {"VCPU": 8}}).status_code == 204
    gen = generation(api, compute)
    cases = [
        ({"VCPU": 1}, "exceed the capacity"),
        ({"MEMORY_MB": 4096}, "exceed the capacity"),
        ({"MEMORY_MB": 300}, "violate inventory constraints"),
        ({"MEMORY_MB": 128}, "violate inventory constraints"),
        ({"DISK_GB": 101}, "exceed the capacity"),
        ({"VGPU": 1}, "Inventory for 'VGPU' on resource provider"),
    ]
    for resources, message in cases:
        resp = claim(api, str(uuid.uuid4()), {compute: resources})
        assert resp.status_code == 409, resources
        detail = resp.json["errors"][0]["detail"]
        assert "Unable to allocate inventory" in detail
        assert message in detail, detail
    assert generation(api, compute) == gen
    assert usages(api, compute)["VCPU"] == 16
    # Shrinking one's own claim on a full provider is fine.
    assert (
        claim(api, first, {compute: {"VCPU": 4}}, generation_=1).status_code
        == 204
    )


def test_over_capacity_allowed_when_not_worse(api, compute):
    consumer = str(uuid.uuid4())
    assert claim(api, consumer, {compute: {"DISK_GB": 80}}).status_code == 204
    resp = api.put(
        "/resource_providers/%s/inventories/DISK_GB" % compute,
        {
            "resource_provider_generation": generation(api, compute),
            "total": 50,
        },
    )
    assert resp.status_code == 200, resp.text
    assert (
        claim(
            api, consumer, {compute: {"DISK_GB": 60}}, generation_=1
        ).status_code
        == 204
    )
    assert (
        claim(
            api, consumer, {compute: {"DISK_GB": 70}}, generation_=2
        ).status_code
        == 409
    )


@pytest.mark.parametrize(
    "body, version, message",
    [
        (
            {"allocations": {"X": {"resources": {"VCPU": 0}}}},
            "1.12",
            "JSON does not validate",
        ),
        (None, "1.12", "less than the minimum of 1"),
        ("negative", "1.28", "less than the minimum of 1"),
        ("no-owner", "1.8", "'project_id' is a required property"),
        ("extra", "1.28", "Additional properties are not allowed"),
        ("gen-type", "1.28", "is not of type"),
        ("no-type", "1.38", "'consumer_type' is a required property"),
        ("mappings-early", "1.33", "Additional properties are not allowed"),
    ],
)
def test_bad_bodies_change_nothing(api, compute, body, version, message):
    good = {
        "allocations": {compute: {"resources": {"VCPU": 1}}},
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": None,
    }
    if body is None:
        body = dict(good, allocations={compute: {"resources": {"VCPU": 0}}})
        del body["consumer_generation"]
    elif body == "negative":
        body = dict(good, allocations={compute: {"resources": {"VCPU": -1}}})
    elif body == "no-owner":
        body = {
            "allocations": [
                {
                    "resource_provider": {"uuid": compute},
                    "resources": {"VCPU": 1},
                }
            ]
        }
    elif body == "extra":
        body = dict(good, colour="blue")
    elif body == "gen-type":
        body = dict(good, consumer_generation="1")
    elif body == "no-type":
        body = dict(good)
    elif body == "mappings-early":
        body = dict(good, mappings={"": [compute]})
    gen = generation(api, compute)
    consumer = str(uuid.uuid4())
    resp = api.put("/allocations/%s" % consumer, body, version=version)
    assert resp.status_code == 400, resp.text
    assert message in resp.json["errors"][0]["detail"]
    assert generation(api, compute) == gen
    assert api.get("/allocations/%s" % consumer).json == {"allocations": {}}


def test_unknown_provider_and_class(api, compute):
    gen = generation(api, compute)
    consumer = str(uuid.uuid4())
    missing = str(uuid.uuid4())
    resp = claim(api, consumer, {compute: {"VCPU": 1}, missing: {"VCPU": 1}})
    assert resp.status_code == 400
    assert (
        "Allocation for resource provider '%s' that does not exist." % missing
    ) in resp.json["errors"][0]["detail"]
    resp = claim(api, consumer, {compute: {"VCPU": 1, "CUSTOM_NOPE": 1}})
    assert resp.status_code == 400
    detail = resp.json["errors"][0]["detail"]
    assert "Unable to allocate inventory for consumer %s" % consumer in detail
    assert "No such resource class CUSTOM_NOPE" in detail
    resp = api.put("/allocations/not-a-uuid", {"allocations": {}})
    assert resp.status_code == 400
    assert "Malformed consumer_uuid" in resp.json["errors"][0]["detail"]
    assert generation(api, compute) == gen
    assert usages(api, compute)["VCPU"] == 0
    # No project or user row was left behind by the failed writes.
    with api.db.read() as conn:
        assert (
            conn.exec_driver_sql("SELECT COUNT(*) FROM consumers").scalar()
            == 0
        )


def test_post_is_atomic(api, compute):
    other = make_provider(api, "cn2", {"VCPU": {"total": 2}})
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    body = {
        a: {
            "allocations": {compute: {"resources": {"VCPU": 2}}},
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": None,
        },
        b: {
            "allocations": {other: {"resources": {"VCPU": 3}}},
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": None,
        },
    }
    resp = api.post("/allocations", body, version="1.28")
    assert resp.status_code == 409
    assert api.get("/allocations/%s" % a).json == {"allocations": {}}
    assert usages(api, compute)["VCPU"] == 0
    body[b]["allocations"][other]["resources"]["VCPU"] = 2
    assert api.post("/allocations", body, version="1.28").status_code == 204
    # Move a onto other and drop b, atomically.
    body = {
        a: {
            "allocations": {other: {"resources": {"VCPU": 2}}},
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": 1,
        },
        b: {
            "allocations": {},
            "project_id": PROJECT,
            "user_id": USER,
            "consumer_generation": 1,
        },
    }
    resp = api.post("/allocations", body, version="1.28")
    assert resp.status_code == 204, resp.text
    assert usages(api, compute)["VCPU"] == 0
    assert usages(api, other)["VCPU"] == 2
    assert api.post("/allocations", body, version="1.12").status_code == 404


def test_consumer_types_and_usages(api, compute):
    for consumer_type, amount in (("INSTANCE", 1), ("MIGRATION", 2)):
        resp = claim(
            api,
            str(uuid.uuid4()),
            {compute: {"VCPU": amount}},
            version="1.38",
            consumer_type=consumer_type,
        )
        assert resp.status_code == 204, resp.text
    assert (
        claim(
            api, str(uuid.uuid4()), {compute: {"VCPU": 4}}, version="1.37"
        ).status_code
        == 204
    )
    resp = api.get("/usages?project_id=%s" % PROJECT, version="1.38")
    assert resp.json["usages"] == {
        "INSTANCE": {"consumer_count": 1, "VCPU": 1},
        "MIGRATION": {"consumer_count": 1, "VCPU": 2},
        "unknown": {"consumer_count": 1, "VCPU": 4},
    }
    resp = api.get(
        "/usages?project_id=%s&user_id=%s" % (PROJECT, USER), version="1.9"
    )
    assert resp.json["usages"] == {"VCPU": 7}


def test_in_use_inventory_and_provider(api, compute):
    consumer = str(uuid.uuid4())
    assert claim(api, consumer, {compute: {"VCPU": 1}}).status_code == 204
    resp = api.delete("/resource_providers/%s/inventories/VCPU" % compute)
    assert resp.status_code == 409
    resp = api.delete("/resource_providers/%s" % compute)
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == (
        "placement.resource_provider.inuse"
    )
    assert api.delete("/allocations/%s" % consumer).status_code == 204
    assert api.delete("/resource_providers/%s" % compute).status_code == 204


def _sent(api, action):
    """The statements ``action`` sends, as text."""
    sent = []

    def listen(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()))

    sa.event.listen(api.db.engine, "before_cursor_execute", listen)
    try:
        action()
    finally:
        sa.event.remove(api.db.engine, "before_cursor_execute", listen)
    return sent


def test_a_claim_reads_twice_and_deletes_only_what_was_held(api):
    """A claim reads the consumer, its owners and the providers of what it
    holds in one statement, the providers with their inventory and usage
    in another; a new consumer holds nothing, so nothing is deleted."""
    consumer = str(uuid.uuid4())
    custom = "CUSTOM_MAGIC"
    resp = api.put("/resource_classes/" + custom, version="1.7")
    assert resp.status_code == 201, resp.text
    compute = make_provider(
        api, "cn1", {"VCPU": {"total": 8}, custom: {"total": 4}}
    )

    def put(consumer, resources, generation_):
        resp = claim(
            api,
            consumer,
            {compute: resources},
            generation_,
            version="1.38",
            consumer_type="INSTANCE",
        )
        assert resp.status_code == 204, resp.text

    put(str(uuid.uuid4()), {"VCPU": 1}, None)  # the owners' rows exist
    sent = _sent(api, lambda: put(consumer, {"VCPU": 2, custom: 1}, None))
    reads = [s for s in sent if s.startswith("SELECT")]
    assert len(reads) == 2, reads
    assert not [s for s in sent if s.startswith("DELETE")], sent
    sent = _sent(api, lambda: put(consumer, {"VCPU": 3}, 1))
    assert [s for s in sent if s.startswith("DELETE")], sent
    body = api.get("/allocations/%s" % consumer, version="1.38").json
    assert body["allocations"][compute]["resources"] == {"VCPU": 3}
    assert body["consumer_generation"] == 2
    assert usages(api, compute) == {"VCPU": 4, custom: 0}


def test_a_claim_replaces_allocations_held_without_a_consumer_row(
    api, compute
):
    """Allocations written before consumers had rows, or left on a
    provider deleted by hand, are replaced by the consumer's next claim,
    as the DELETE of all its allocations always did."""
    orphan, stranded = str(uuid.uuid4()), str(uuid.uuid4())
    assert claim(api, stranded, {compute: {"VCPU": 1}}).status_code == 204
    with api.db.write() as conn:
        rp_id = conn.scalar(
            sa.select(tables.resource_providers.c.id).where(
                tables.resource_providers.c.uuid == compute
            )
        )
        conn.execute(
            tables.allocations.insert(),
            [
                {
                    "resource_provider_id": rp_id,
                    "consumer_id": orphan,
                    "resource_class_id": 0,
                    "used": 3,
                },
                {
                    "resource_provider_id": rp_id + 1000,
                    "consumer_id": stranded,
                    "resource_class_id": 0,
                    "used": 5,
                },
            ],
        )
    assert claim(api, orphan, {compute: {"VCPU": 2}}).status_code == 204
    assert claim(api, stranded, {compute: {"VCPU": 1}}, 1).status_code == 204
    with api.db.read() as conn:
        held = conn.execute(
            sa.select(
                tables.allocations.c.consumer_id,
                tables.allocations.c.resource_provider_id,
                tables.allocations.c.used,
            ).order_by(tables.allocations.c.used)
        ).all()
    assert sorted(held) == sorted([(stranded, rp_id, 1), (orphan, rp_id, 2)])
    assert usages(api, compute)["VCPU"] == 3
