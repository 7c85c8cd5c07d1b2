"""A small cloud the console tests (tests/functional/test_console.py,
tests/browser/) look at: two trees, a nested provider, a custom class, a
trait, an aggregate and a consumer."""

ROOT = "11111111-1111-4111-8111-111111111111"
CHILD = "22222222-2222-4222-8222-222222222222"
OTHER = "55555555-5555-4555-8555-555555555555"
AGG = "33333333-3333-4333-8333-333333333333"
CONSUMER = "44444444-4444-4444-8444-444444444444"


def seed(call):
    """cn1 (VCPU, MEMORY_MB, a trait) with child cn1-numa0 (in AGG), cn2,
    and a consumer on cn1 and its child. ``call(method, path, body)``
    sends a request as admin and answers (status, text)."""

    def ok(answer):
        assert answer[0] < 300, answer

    ok(call("PUT", "/resource_classes/CUSTOM_PMEM", None))
    ok(call("POST", "/resource_providers", {"name": "cn1", "uuid": ROOT}))
    ok(
        call(
            "POST",
            "/resource_providers",
            {"name": "cn1-numa0", "uuid": CHILD, "parent_provider_uuid": ROOT},
        )
    )
    ok(call("POST", "/resource_providers", {"name": "cn2", "uuid": OTHER}))
    ok(
        call(
            "PUT",
            "/resource_providers/%s/inventories" % ROOT,
            {
                "resource_provider_generation": 0,
                "inventories": {
                    "VCPU": {"total": 16, "allocation_ratio": 2.0},
                    "MEMORY_MB": {"total": 4096, "reserved": 1024},
                },
            },
        )
    )
    ok(
        call(
            "PUT",
            "/resource_providers/%s/inventories" % CHILD,
            {
                "resource_provider_generation": 0,
                "inventories": {"CUSTOM_PMEM": {"total": 10}},
            },
        )
    )
    ok(
        call(
            "PUT",
            "/resource_providers/%s/traits" % ROOT,
            {"resource_provider_generation": 1, "traits": ["HW_CPU_X86_AVX2"]},
        )
    )
    ok(
        call(
            "PUT",
            "/resource_providers/%s/aggregates" % CHILD,
            {"resource_provider_generation": 1, "aggregates": [AGG]},
        )
    )
    ok(
        call(
            "PUT",
            "/allocations/" + CONSUMER,
            {
                "allocations": {
                    ROOT: {"resources": {"VCPU": 8, "MEMORY_MB": 1536}},
                    CHILD: {"resources": {"CUSTOM_PMEM": 5}},
                },
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
                "project_id": "proj-1",
                "user_id": "user-1",
            },
        )
    )
