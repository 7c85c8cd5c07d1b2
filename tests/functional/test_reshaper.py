"""The VGPU reshape scenario, on every backend.

A compute node reports VGPU flat on its root provider and server A holds
one. The virt driver then creates two physical GPU children and, in one
POST /reshaper, moves the VGPU inventory onto them and A's allocation onto
the first. Server B then gets a nested candidate and claims it. Failed
reshapes (stale generation, too little inventory) change nothing.
"""

import uuid

PROJECT = "b2e599e0-ded8-47fd-b8ab-ceb7fca578bd"
USER = "8c974f9a-f266-42f7-8613-a8017cbfb87f"
# POST /reshaper is a service operation (admin alone passes only under the
# legacy policy defaults).
SERVICE = {"x-roles": "admin,service"}


def _provider(api, name, parent=None):
    rp_uuid = str(uuid.uuid4())
    body = {"name": name, "uuid": rp_uuid}
    if parent:
        body["parent_provider_uuid"] = parent
    resp = api.post("/resource_providers", body, version="1.14")
    assert resp.status_code in (200, 201), resp.text
    return rp_uuid


def _generation(api, rp_uuid):
    return api.get("/resource_providers/%s" % rp_uuid).json["generation"]


def _inventories(api, rp_uuid):
    body = api.get("/resource_providers/%s/inventories" % rp_uuid).json
    return body["inventories"]


def _usages(api, rp_uuid):
    return api.get("/resource_providers/%s/usages" % rp_uuid).json["usages"]


def _state(api, providers, consumers):
    """Everything a failed reshape must leave untouched."""
    return (
        {
            rp: (_generation(api, rp), _inventories(api, rp), _usages(api, rp))
            for rp in providers
        },
        {
            c: api.get("/allocations/%s" % c, version="1.38").json
            for c in consumers
        },
    )


def _reshape(api, inventories, allocations):
    return api.post(
        "/reshaper",
        {"inventories": inventories, "allocations": allocations},
        version="1.30",
        headers=SERVICE,
    )


def _alloc(rp_resources, generation):
    return {
        "allocations": {
            rp: {"resources": res} for rp, res in rp_resources.items()
        },
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": generation,
    }


def test_vgpu_reshape(api):
    root = _provider(api, "compute-1")
    resp = api.put(
        "/resource_providers/%s/inventories" % root,
        {
            "resource_provider_generation": 0,
            "inventories": {"VCPU": {"total": 16}, "VGPU": {"total": 4}},
        },
    )
    assert resp.status_code == 200, resp.text

    server_a = str(uuid.uuid4())
    resp = api.put(
        "/allocations/%s" % server_a,
        _alloc({root: {"VCPU": 2, "VGPU": 1}}, None),
        version="1.28",
    )
    assert resp.status_code == 204, resp.text

    gpu1 = _provider(api, "compute-1-pgpu-0", parent=root)
    gpu2 = _provider(api, "compute-1-pgpu-1", parent=root)
    providers = [root, gpu1, gpu2]
    root_gen = _generation(api, root)

    # A stale generation: refused, nothing changes.
    before = _state(api, providers, [server_a])
    resp = _reshape(
        api,
        {
            root: {
                "resource_provider_generation": root_gen - 1,
                "inventories": {"VCPU": {"total": 16}},
            },
            gpu1: {
                "resource_provider_generation": 0,
                "inventories": {"VGPU": {"total": 2}},
            },
        },
        {server_a: _alloc({root: {"VCPU": 2}, gpu1: {"VGPU": 1}}, 1)},
    )
    assert resp.status_code == 409
    assert resp.json["errors"][0]["code"] == "placement.concurrent_update"
    assert _state(api, providers, [server_a]) == before

    # Too little inventory on the child for the moved allocation.
    resp = _reshape(
        api,
        {
            root: {
                "resource_provider_generation": root_gen,
                "inventories": {"VCPU": {"total": 16}},
            },
            gpu1: {
                "resource_provider_generation": 0,
                "inventories": {"VGPU": {"total": 2, "reserved": 2}},
            },
        },
        {server_a: _alloc({root: {"VCPU": 2}, gpu1: {"VGPU": 1}}, 1)},
    )
    assert resp.status_code == 409
    assert "Unable to allocate inventory" in resp.json["errors"][0]["detail"]
    assert _state(api, providers, [server_a]) == before

    # An inventory whose reserved amount exceeds its total: 409 as well.
    resp = _reshape(
        api,
        {
            root: {
                "resource_provider_generation": root_gen,
                "inventories": {"VCPU": {"total": 16}},
            },
            gpu1: {
                "resource_provider_generation": 0,
                "inventories": {"VGPU": {"total": 2, "reserved": 3}},
            },
        },
        {server_a: _alloc({root: {"VCPU": 2}, gpu1: {"VGPU": 1}}, 1)},
    )
    assert resp.status_code == 409
    assert resp.json["errors"][0]["detail"].startswith(
        "There was a conflict when trying to complete your request.\n\n "
        "Unable to allocate inventory: Invalid inventory for 'VGPU'"
    )
    assert _state(api, providers, [server_a]) == before

    # The real reshape.
    resp = _reshape(
        api,
        {
            root: {
                "resource_provider_generation": root_gen,
                "inventories": {"VCPU": {"total": 16}},
            },
            gpu1: {
                "resource_provider_generation": 0,
                "inventories": {"VGPU": {"total": 2}},
            },
            gpu2: {
                "resource_provider_generation": 0,
                "inventories": {"VGPU": {"total": 2}},
            },
        },
        {server_a: _alloc({root: {"VCPU": 2}, gpu1: {"VGPU": 1}}, 1)},
    )
    assert resp.status_code == 204, resp.text
    assert "VGPU" not in _inventories(api, root)
    body = api.get("/allocations/%s" % server_a, version="1.28").json
    assert body["consumer_generation"] == 2
    assert body["allocations"][gpu1]["resources"] == {"VGPU": 1}
    assert body["allocations"][root]["resources"] == {"VCPU": 2}

    # Server B: a nested candidate for one VGPU, then the claim.
    resp = api.get(
        "/allocation_candidates?resources=VCPU:1,VGPU:1", version="1.29"
    )
    assert resp.status_code == 200, resp.text
    requests = resp.json["allocation_requests"]
    assert requests
    server_b = str(uuid.uuid4())
    resp = api.put(
        "/allocations/%s" % server_b,
        _alloc(
            {
                rp: value["resources"]
                for rp, value in requests[0]["allocations"].items()
            },
            None,
        ),
        version="1.29",
    )
    assert resp.status_code == 204, resp.text

    vgpu = {rp: _usages(api, rp).get("VGPU", 0) for rp in providers}
    assert vgpu[root] == 0
    assert sum(vgpu.values()) == 2
    assert vgpu[gpu1] >= 1
    b_allocs = api.get("/allocations/%s" % server_b).json["allocations"]
    assert [rp for rp in b_allocs if "VGPU" in b_allocs[rp]["resources"]] in (
        [gpu1],
        [gpu2],
    )
