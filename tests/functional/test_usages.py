"""Provider and project usages through the WSGI app."""

import uuid

import pytest


def make_provider(api, inventories, name="rp"):
    rp_uuid = str(uuid.uuid4())
    resp = api.post("/resource_providers", {"name": name, "uuid": rp_uuid})
    assert resp.status_code in (200, 201), resp.text
    resp = api.put(
        "/resource_providers/%s/inventories" % rp_uuid,
        {
            "resource_provider_generation": 0,
            "inventories": {
                rc: {"total": total} for rc, total in inventories.items()
            },
        },
    )
    assert resp.status_code == 200, resp.text
    return rp_uuid


def allocate(
    api, rp_uuid, resources, project="p1", user="u1", consumer_type=None
):
    consumer = str(uuid.uuid4())
    body = {
        "allocations": {rp_uuid: {"resources": resources}},
        "project_id": project,
        "user_id": user,
        "consumer_generation": None,
    }
    version = "1.28"
    if consumer_type:
        body["consumer_type"] = consumer_type
        version = "1.38"
    resp = api.put("/allocations/" + consumer, body, version=version)
    assert resp.status_code == 204, resp.text
    return consumer


def test_provider_usages(api):
    rp = make_provider(api, {"VCPU": 8, "DISK_GB": 100, "MEMORY_MB": 64})
    empty = api.get("/resource_providers/%s/usages" % rp, version="1.14")
    assert empty.json == {
        "resource_provider_generation": 1,
        "usages": {"VCPU": 0, "DISK_GB": 0, "MEMORY_MB": 0},
    }
    assert "last-modified" not in empty.headers
    allocate(api, rp, {"VCPU": 2, "DISK_GB": 10})
    allocate(api, rp, {"VCPU": 1})
    resp = api.get("/resource_providers/%s/usages" % rp, version="1.15")
    assert resp.json["usages"] == {"VCPU": 3, "DISK_GB": 10, "MEMORY_MB": 0}
    assert resp.headers["cache-control"] == "no-cache"
    assert "last-modified" in resp.headers


def test_provider_usages_missing_provider(sqlite_api):
    missing = str(uuid.uuid4())
    resp = sqlite_api.get("/resource_providers/%s/usages" % missing)
    assert resp.status_code == 404
    assert (
        "No resource provider with uuid %s found" % missing
        in (resp.json["errors"][0]["detail"])
    )


def test_project_usages(api):
    rp = make_provider(api, {"VCPU": 8, "DISK_GB": 100})
    allocate(api, rp, {"VCPU": 2, "DISK_GB": 10}, user="u1")
    allocate(api, rp, {"VCPU": 1}, user="u2")
    allocate(api, rp, {"VCPU": 4}, project="p2")
    assert api.get("/usages?project_id=p1", version="1.9").json == {
        "usages": {"VCPU": 3, "DISK_GB": 10}
    }
    assert api.get("/usages?project_id=p1&user_id=u2", version="1.9").json == {
        "usages": {"VCPU": 1}
    }
    assert api.get("/usages?project_id=nobody", version="1.9").json == {
        "usages": {}
    }
    assert api.get("/usages?project_id=p1", version="1.8").status_code == 404


def test_usages_by_consumer_type(api):
    rp = make_provider(api, {"VCPU": 16, "MEMORY_MB": 1024})
    allocate(api, rp, {"VCPU": 2, "MEMORY_MB": 256}, consumer_type="INSTANCE")
    allocate(api, rp, {"VCPU": 1}, consumer_type="INSTANCE")
    allocate(api, rp, {"VCPU": 4}, consumer_type="MIGRATION")
    allocate(api, rp, {"MEMORY_MB": 8})  # no consumer type: "unknown"

    def usages(query):
        resp = api.get("/usages?project_id=p1" + query, version="1.38")
        assert resp.status_code == 200, resp.text
        return resp.json["usages"]

    assert usages("") == {
        "INSTANCE": {"VCPU": 3, "MEMORY_MB": 256, "consumer_count": 2},
        "MIGRATION": {"VCPU": 4, "consumer_count": 1},
        "unknown": {"MEMORY_MB": 8, "consumer_count": 1},
    }
    assert usages("&consumer_type=INSTANCE") == {
        "INSTANCE": {"VCPU": 3, "MEMORY_MB": 256, "consumer_count": 2}
    }
    assert usages("&consumer_type=all") == {
        "all": {"VCPU": 7, "MEMORY_MB": 264, "consumer_count": 4}
    }
    assert usages("&consumer_type=unknown") == {
        "unknown": {"MEMORY_MB": 8, "consumer_count": 1}
    }
    assert usages("&consumer_type=OTHER") == {}
    # Before 1.38 the usage is not split.
    assert api.get("/usages?project_id=p1", version="1.37").json == {
        "usages": {"VCPU": 7, "MEMORY_MB": 264}
    }


@pytest.mark.parametrize(
    "query, version, text",
    [
        ("", "1.9", "'project_id' is a required property"),
        ("project_id=", "1.9", "Failed validating 'minLength'"),
        ("project_id=p&user_id=", "1.9", "Failed validating 'minLength'"),
        ("project_id=" + "p" * 256, "1.9", "Failed validating 'maxLength'"),
        (
            "project_id=p&extra=1",
            "1.9",
            "Additional properties are not allowed",
        ),
        (
            "project_id=p&consumer_type=INSTANCE",
            "1.37",
            "Additional properties are not allowed",
        ),
        (
            "project_id=p&consumer_type=bad-type",
            "1.38",
            "Failed validating 'pattern'",
        ),
    ],
)
def test_project_usages_bad_query(sqlite_api, query, version, text):
    resp = sqlite_api.get("/usages?" + query, version=version)
    assert resp.status_code == 400
    assert text in resp.json["errors"][0]["detail"]


def test_project_reader_sees_own_project_only(sqlite_api):
    headers = {"x-roles": "reader", "x-project-id": "p1"}
    own = sqlite_api.get(
        "/usages?project_id=p1", token="user", headers=headers
    )
    assert own.status_code == 200
    other = sqlite_api.get(
        "/usages?project_id=p2", token="user", headers=headers
    )
    assert other.status_code == 403
