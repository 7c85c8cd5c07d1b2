"""Provider inventories through the WSGI app."""

import uuid

import pytest

MAX_INT = 2147483647


def make_provider(api, name="rp"):
    rp_uuid = str(uuid.uuid4())
    resp = api.post("/resource_providers", {"name": name, "uuid": rp_uuid})
    assert resp.status_code in (200, 201), resp.text
    return rp_uuid


def inv_url(rp_uuid, rc=None):
    url = "/resource_providers/%s/inventories" % rp_uuid
    return url + "/" + rc if rc else url


def allocate(api, rp_uuid, resources, consumer=None):
    consumer = consumer or str(uuid.uuid4())
    resp = api.put(
        "/allocations/" + consumer,
        {
            "allocations": {rp_uuid: {"resources": resources}},
            "project_id": "p1",
            "user_id": "u1",
            "consumer_generation": None,
        },
        version="1.28",
    )
    assert resp.status_code == 204, resp.text
    return consumer


def generation(api, rp_uuid):
    return api.get(inv_url(rp_uuid)).json["resource_provider_generation"]


def test_post_get_defaults_and_location(api):
    rp = make_provider(api)
    resp = api.post(inv_url(rp), {"resource_class": "VCPU", "total": 8})
    assert resp.status_code == 201
    assert resp.headers["location"].endswith(inv_url(rp, "VCPU"))
    assert resp.json == {
        "total": 8,
        "reserved": 0,
        "min_unit": 1,
        "max_unit": MAX_INT,
        "step_size": 1,
        "allocation_ratio": 1.0,
        "resource_provider_generation": 1,
    }
    one = api.get(inv_url(rp, "VCPU"), version="1.15")
    assert one.json["total"] == 8
    assert one.headers["cache-control"] == "no-cache"
    assert "last-modified" in one.headers
    listed = api.get(inv_url(rp))
    assert listed.json["resource_provider_generation"] == 1
    assert listed.json["inventories"]["VCPU"]["max_unit"] == MAX_INT


def test_empty_list_has_no_last_modified(api):
    rp = make_provider(api)
    resp = api.get(inv_url(rp), version="1.15")
    assert resp.json == {"resource_provider_generation": 0, "inventories": {}}
    assert resp.headers["cache-control"] == "no-cache"
    assert "last-modified" not in resp.headers


def test_post_duplicate_and_unknown_class(api):
    rp = make_provider(api)
    assert (
        api.post(
            inv_url(rp), {"resource_class": "DISK_GB", "total": 10}
        ).status_code
        == 201
    )
    dup = api.post(inv_url(rp), {"resource_class": "DISK_GB", "total": 10})
    assert dup.status_code == 409
    assert dup.json["errors"][0]["code"] == "placement.concurrent_update"
    unknown = api.post(
        inv_url(rp), {"resource_class": "CUSTOM_NOPE", "total": 10}
    )
    assert unknown.status_code == 400
    assert (
        "No such resource class CUSTOM_NOPE"
        in (unknown.json["errors"][0]["detail"])
    )
    assert generation(api, rp) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"resource_class": "VCPU"},
        {"resource_class": "VCPU", "total": -1},
        {"resource_class": "VCPU", "total": 0},
        {"resource_class": "VCPU", "total": "8"},
        {"resource_class": "VCPU", "total": True},
        {"resource_class": "VCPU", "total": MAX_INT + 1},
        {"resource_class": "VCPU", "total": 8, "min_unit": 0},
        {"resource_class": "VCPU", "total": 8, "reserved": -1},
        {"resource_class": "VCPU", "total": 8, "step_size": 0},
        {"resource_class": "VCPU", "total": 8, "allocation_ratio": 3.5e39},
        {"resource_class": "VCPU", "total": 8, "colour": "red"},
        {"resource_class": "vcpu", "total": 8},
    ],
)
def test_post_bad_bodies(sqlite_api, body):
    rp = make_provider(sqlite_api)
    resp = sqlite_api.post(inv_url(rp), body)
    assert resp.status_code == 400
    assert "JSON does not validate" in resp.json["errors"][0]["detail"]
    assert generation(sqlite_api, rp) == 0


def test_malformed_json_and_media_type(sqlite_api):
    rp = make_provider(sqlite_api)
    bad = sqlite_api.request(
        "POST",
        inv_url(rp),
        raw=b'{"total": }',
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert "Malformed JSON" in bad.json["errors"][0]["detail"]
    text = sqlite_api.request(
        "POST", inv_url(rp), raw=b"x", content_type="text/plain"
    )
    assert text.status_code == 415


def test_reserved_versus_total_by_microversion(api):
    rp = make_provider(api)
    full = {"resource_class": "VCPU", "total": 8, "reserved": 8}
    resp = api.post(inv_url(rp), full, version="1.25")
    assert resp.status_code == 400
    assert (
        "greater than or equal to total" in (resp.json["errors"][0]["detail"])
    )
    assert api.post(inv_url(rp), full, version="1.26").status_code == 201
    over = {"resource_provider_generation": 1, "total": 8, "reserved": 9}
    resp = api.put(inv_url(rp, "VCPU"), over, version="1.26")
    assert resp.status_code == 400
    assert "greater than total" in resp.json["errors"][0]["detail"]
    assert generation(api, rp) == 1


def test_put_one(api):
    rp = make_provider(api)
    api.post(inv_url(rp), {"resource_class": "VCPU", "total": 8})
    resp = api.put(
        inv_url(rp, "VCPU"),
        {
            "resource_provider_generation": 1,
            "total": 16,
            "reserved": 2,
            "allocation_ratio": 2.0,
        },
    )
    assert resp.status_code == 200
    assert resp.json["resource_provider_generation"] == 2
    assert resp.json["total"] == 16
    stale = api.put(
        inv_url(rp, "VCPU"),
        {"resource_provider_generation": 1, "total": 4},
        version="1.23",
    )
    assert stale.status_code == 409
    assert stale.json["errors"][0]["code"] == "placement.concurrent_update"
    missing = api.put(
        inv_url(rp, "DISK_GB"), {"resource_provider_generation": 2, "total": 4}
    )
    assert missing.status_code == 400
    assert (
        "No inventory record with resource class"
        in (missing.json["errors"][0]["detail"])
    )
    unknown = api.put(
        inv_url(rp, "CUSTOM_NOPE"),
        {"resource_provider_generation": 2, "total": 4},
    )
    assert unknown.status_code == 404
    no_gen = api.put(inv_url(rp, "VCPU"), {"total": 4})
    assert no_gen.status_code == 400
    got = api.get(inv_url(rp, "VCPU")).json
    assert (got["total"], got["reserved"], got["allocation_ratio"]) == (
        16,
        2,
        2.0,
    )
    assert got["resource_provider_generation"] == 2


def test_put_all_replaces(api):
    rp = make_provider(api)
    api.post(inv_url(rp), {"resource_class": "VCPU", "total": 8})
    resp = api.put(
        inv_url(rp),
        {
            "resource_provider_generation": 1,
            "inventories": {
                "DISK_GB": {"total": 100, "reserved": 5},
                "MEMORY_MB": {"total": 1024},
            },
        },
        version="1.15",
    )
    assert resp.status_code == 200
    assert resp.json["resource_provider_generation"] == 2
    assert set(resp.json["inventories"]) == {"DISK_GB", "MEMORY_MB"}
    assert resp.json["inventories"]["DISK_GB"]["reserved"] == 5
    assert "last-modified" in resp.headers
    assert set(api.get(inv_url(rp)).json["inventories"]) == {
        "DISK_GB",
        "MEMORY_MB",
    }
    emptied = api.put(
        inv_url(rp),
        {"resource_provider_generation": 2, "inventories": {}},
        version="1.4",
    )
    assert emptied.json == {
        "resource_provider_generation": 3,
        "inventories": {},
    }


@pytest.mark.parametrize(
    "inventories, status, text",
    [
        ({"CUSTOM_NOPE": {"total": 1}}, 400, "Unknown resource class"),
        ({"VCPU": {"total": 1, "reserved": 2}}, 400, "Unable to update"),
        ({"VCPU": {"total": 0}}, 400, "JSON does not validate"),
        ({"VCPU": {"reserved": 1}}, 400, "JSON does not validate"),
        ({"VCPU": {"total": 1, "bogus": 1}}, 400, "JSON does not validate"),
        ({"VCPU": "many"}, 400, "JSON does not validate"),
    ],
)
def test_put_all_bad_input_writes_nothing(
    sqlite_api, inventories, status, text
):
    rp = make_provider(sqlite_api)
    sqlite_api.post(inv_url(rp), {"resource_class": "DISK_GB", "total": 5})
    resp = sqlite_api.put(
        inv_url(rp),
        {
            "resource_provider_generation": 1,
            "inventories": dict(inventories, MEMORY_MB={"total": 64}),
        },
    )
    assert resp.status_code == status
    assert text in resp.json["errors"][0]["detail"]
    after = sqlite_api.get(inv_url(rp)).json
    assert after["resource_provider_generation"] == 1
    assert set(after["inventories"]) == {"DISK_GB"}


def test_put_all_stale_generation(api):
    rp = make_provider(api)
    resp = api.put(
        inv_url(rp),
        {
            "resource_provider_generation": 3,
            "inventories": {"VCPU": {"total": 1}},
        },
        version="1.23",
    )
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == "placement.concurrent_update"
    assert api.get(inv_url(rp)).json["inventories"] == {}


def test_missing_provider(api):
    missing = str(uuid.uuid4())
    assert api.get(inv_url(missing)).status_code == 404
    assert api.get(inv_url(missing, "VCPU")).status_code == 404
    assert (
        api.post(
            inv_url(missing), {"resource_class": "VCPU", "total": 1}
        ).status_code
        == 404
    )
    assert api.delete(inv_url(missing)).status_code == 404


def test_delete_one_and_all(api):
    rp = make_provider(api)
    api.put(
        inv_url(rp),
        {
            "resource_provider_generation": 0,
            "inventories": {"VCPU": {"total": 4}, "DISK_GB": {"total": 4}},
        },
    )
    resp = api.delete(inv_url(rp, "VCPU"))
    assert resp.status_code == 204
    again = api.delete(inv_url(rp, "VCPU"))
    assert again.status_code == 404
    assert (
        "No inventory of class VCPU found for delete"
        in (again.json["errors"][0]["detail"])
    )
    assert api.delete(inv_url(rp, "CUSTOM_NOPE")).status_code == 404
    assert api.get(inv_url(rp, "VCPU")).status_code == 404
    assert api.delete(inv_url(rp), version="1.4").status_code == 405
    assert api.delete(inv_url(rp), version="1.5").status_code == 204
    assert api.delete(inv_url(rp), version="1.5").status_code == 204
    assert api.get(inv_url(rp)).json == {
        "resource_provider_generation": 4,
        "inventories": {},
    }


def test_inventory_in_use(api):
    rp = make_provider(api)
    api.put(
        inv_url(rp),
        {
            "resource_provider_generation": 0,
            "inventories": {
                "VCPU": {"total": 8},
                "DISK_GB": {"total": 100},
                "MEMORY_MB": {"total": 64},
            },
        },
    )
    allocate(api, rp, {"VCPU": 4, "DISK_GB": 10})
    gen = generation(api, rp)

    one = api.delete(inv_url(rp, "VCPU"))
    assert one.status_code == 409
    assert "in use" in one.json["errors"][0]["detail"]

    drop = api.put(
        inv_url(rp),
        {
            "resource_provider_generation": gen,
            "inventories": {"MEMORY_MB": {"total": 1}},
        },
    )
    assert drop.status_code == 409
    assert drop.json["errors"][0]["code"] == "placement.inventory.inuse"
    assert "'VCPU, DISK_GB'" in drop.json["errors"][0]["detail"]

    every = api.delete(inv_url(rp))
    assert every.status_code == 409
    assert every.json["errors"][0]["code"] == "placement.inventory.inuse"
    assert generation(api, rp) == gen
    assert len(api.get(inv_url(rp)).json["inventories"]) == 3

    # Shrinking below the usage is allowed.
    shrink = api.put(
        inv_url(rp, "VCPU"), {"resource_provider_generation": gen, "total": 2}
    )
    assert shrink.status_code == 200
    assert shrink.json["resource_provider_generation"] == gen + 1


def test_resource_class_in_use_cannot_be_deleted(api):
    rp = make_provider(api)
    api.post("/resource_classes", {"name": "CUSTOM_GOLD"})
    api.post(inv_url(rp), {"resource_class": "CUSTOM_GOLD", "total": 3})
    assert api.delete("/resource_classes/CUSTOM_GOLD").status_code == 409
    api.delete(inv_url(rp, "CUSTOM_GOLD"))
    assert api.delete("/resource_classes/CUSTOM_GOLD").status_code == 204


def test_policy_forbids_non_admin(sqlite_api):
    rp = make_provider(sqlite_api)
    resp = sqlite_api.get(inv_url(rp), token="user")
    assert resp.status_code == 403
