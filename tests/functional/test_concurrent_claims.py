"""Many concurrent claimers against a small capacity, on every backend.

Each thread has its own application and database engine (so its own
connections) on one shared database, as separate server workers would.
Whatever the interleaving, no provider may end above its capacity, every
refused claim must be a 409, and the usage left must be exactly the sum of
the claims that succeeded.
"""

import random
import threading
import uuid

from tests import support

PROJECT = "c0ffee00-0000-4000-8000-000000000001"
USER = "c0ffee00-0000-4000-8000-000000000002"
THREADS = 8
CLAIMS_PER_THREAD = 8
PROVIDERS = 3
TOTAL = 6


def _claim_body(allocations, generation=None):
    return {
        "allocations": {
            rp: {"resources": {"VCPU": amount}}
            for rp, amount in allocations.items()
        },
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": generation,
    }


def _worker(client, providers, barrier, seed, results):
    rng = random.Random(seed)
    barrier.wait()
    for _ in range(CLAIMS_PER_THREAD):
        consumer = str(uuid.uuid4())
        if rng.random() < 0.3:
            # Two providers in one claim.
            chosen = rng.sample(providers, 2)
            wanted = {rp: rng.randint(1, 2) for rp in chosen}
            resp = client.post(
                "/allocations", {consumer: _claim_body(wanted)}, version="1.28"
            )
        else:
            wanted = {rng.choice(providers): rng.randint(1, 3)}
            resp = client.put(
                "/allocations/%s" % consumer,
                _claim_body(wanted),
                version="1.28",
            )
        results.append((resp.status_code, consumer, wanted, resp.text))
        if resp.status_code == 204 and rng.random() < 0.25:
            # Give some back, racing the other claimers.
            resp = client.delete("/allocations/%s" % consumer)
            results.append((resp.status_code, consumer, None, resp.text))


def test_concurrent_claims_never_exceed_capacity(database_url):
    clients = [support.ApiClient.create(database_url) for _ in range(THREADS)]
    try:
        setup = clients[0]
        providers = []
        for index in range(PROVIDERS):
            rp_uuid = str(uuid.uuid4())
            assert (
                setup.post(
                    "/resource_providers",
                    {"name": "cn%d" % index, "uuid": rp_uuid},
                ).status_code
                == 200
            )
            resp = setup.put(
                "/resource_providers/%s/inventories" % rp_uuid,
                {
                    "resource_provider_generation": 0,
                    "inventories": {"VCPU": {"total": TOTAL, "max_unit": 3}},
                },
            )
            assert resp.status_code == 200, resp.text
            providers.append(rp_uuid)

        barrier = threading.Barrier(THREADS)
        results = []
        threads = [
            threading.Thread(
                target=_worker,
                args=(client, providers, barrier, seed, results),
            )
            for seed, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads)

        held = dict.fromkeys(providers, 0)
        succeeded = 0
        for status, consumer, wanted, text in results:
            assert status in (204, 409), text
            if wanted is None:
                continue
            if status == 204:
                succeeded += 1
                if setup.get("/allocations/%s" % consumer).json["allocations"]:
                    for rp, amount in wanted.items():
                        held[rp] += amount
        assert succeeded > 0
        for rp in providers:
            used = setup.get("/resource_providers/%s/usages" % rp).json[
                "usages"
            ]["VCPU"]
            assert used <= TOTAL
            assert used == held[rp]
            listed = setup.get("/resource_providers/%s/allocations" % rp).json
            assert (
                sum(
                    a["resources"]["VCPU"]
                    for a in listed["allocations"].values()
                )
                == used
            )
    finally:
        for client in clients:
            client.close()
