"""Fuzzing: schemathesis sends generated requests, fitting and not fitting
the server's own OpenAPI documents (GET /allotment/openapi.json, one per
microversion), to every route and method of every microversion, through
the real WSGI application on a real database of each backend.

Path parameters, body UUIDs, class names and query values are often
swapped for those of a seeded cloud (a provider tree with inventory,
traits, aggregates, consumers; restored every ``RESTORE_EVERY`` requests)
so that requests reach past the 404s into the writes.

Asserted: no answer is a 5xx; no successful write of allocations took a
usage above its capacity (an inventory update may lower a capacity below
the usage, as in the reference, so usage within capacity is checked at
each write); afterwards the database is consistent (every allocation has
its consumer, provider and inventory, no orphan rows, trees whole) and
the provider snapshot kept change by change equals a fresh load. Each
run's requests and answers by status are printed in the "fuzzing" section
of pytest's summary.

CI mode sends ``FUZZ_EXAMPLES`` requests per operation and backend (fewer
on MariaDB); ``ALLOTMENT_HYPOTHESIS_PROFILE=long`` sends ``LONG_EXAMPLES``,
and ``ALLOTMENT_FUZZ_EXAMPLES=N`` N (docs/operations.md).
"""

import collections
import os
import re

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from allotment.api import microversion
from allotment.storage import tables
from tests import support

pytestmark = pytest.mark.backend

LONG = os.environ.get("ALLOTMENT_HYPOTHESIS_PROFILE") == "long"
# Requests per operation (50 of them), unless ALLOTMENT_FUZZ_EXAMPLES
# says otherwise.
FUZZ_EXAMPLES = {
    "sqlite": 25,
    "postgresql": 25,
    "mysql": 10,
}
LONG_EXAMPLES = 600
EXAMPLES = os.environ.get("ALLOTMENT_FUZZ_EXAMPLES")

ROOT = "a1a1a1a1-0000-4000-8000-000000000001"
CHILD = "a1a1a1a1-0000-4000-8000-000000000002"
OTHER = "a1a1a1a1-0000-4000-8000-000000000003"
PROVIDERS = [ROOT, CHILD, OTHER]
CONSUMERS = [
    "c0c0c0c0-0000-4000-8000-000000000001",
    "c0c0c0c0-0000-4000-8000-000000000002",
]
AGGREGATE = "a9a9a9a9-0000-4000-8000-000000000001"
CLASSES = ["VCPU", "MEMORY_MB", "DISK_GB", "CUSTOM_FUZZ"]
TRAITS = ["HW_CPU_X86_AVX2", "CUSTOM_FUZZ", "STORAGE_DISK_SSD"]

# Path parameter -> values of the seeded cloud to use instead of the
# generated one, most of the time.
KNOWN = {
    "uuid": PROVIDERS,
    "consumer_uuid": CONSUMERS,
    "resource_class": CLASSES,
    "name": CLASSES + TRAITS,
}

_ALLOCATION_WRITES = ("/allocations", "/reshaper")
ADMIN = {"X-Auth-Token": "admin", "X-Roles": "admin,service"}
# Requests between two restorations of the seeded cloud.
RESTORE_EVERY = 50

_UUIDISH = re.compile(r"^[0-9a-fA-F-]{36}$")
_NAMEISH = re.compile(r"^[A-Z0-9_]+$")
# Query keys (request group suffixes aside) -> well-formed values.
_QUERY_VALUES = {
    "resources": ["VCPU:1", "VCPU:1,MEMORY_MB:64", "CUSTOM_FUZZ:1,DISK_GB:5"],
    "required": [
        "HW_CPU_X86_AVX2",
        "!CUSTOM_FUZZ",
        "in:CUSTOM_FUZZ,STORAGE_DISK_SSD",
    ],
    "member_of": [AGGREGATE, "in:" + AGGREGATE, "!" + AGGREGATE],
    "in_tree": [ROOT, CHILD],
    "root_required": ["HW_CPU_X86_AVX2", "!CUSTOM_FUZZ"],
    "limit": ["1", "3"],
    "group_policy": ["none", "isolate"],
}
_QUERY_KEY = re.compile(r"^(%s)" % "|".join(_QUERY_VALUES))


def _often(data):
    """True about three times in four (Hypothesis favours 0: it is the
    common answer)."""
    return data.draw(st.integers(0, 3)) != 3


# Body key -> the table whose generations it names.
_GENERATIONS = {
    "resource_provider_generation": tables.resource_providers,
    "consumer_generation": tables.consumers,
}


def _steer(value, data, generations, owner=None):
    """``value`` (a body) with, at random, UUIDs swapped for those of the
    seeded cloud, upper-case names for its classes, small numbers for large
    ones, and the generations of providers and consumers (``generations``,
    from ``_generations``; ``owner``: the uuid the body or the enclosing
    key names) for what they are now: requests that fit the schema then reach
    past the lookups and generation checks into the writes."""
    if isinstance(value, dict):
        steered = {}
        for key, item in value.items():
            key = _steer_key(key, data)
            if key in _GENERATIONS and _often(data):
                # None for a consumer yet to be: what a new one needs.
                steered[key] = generations[key].get(owner)
            else:
                steered[key] = _steer(
                    item,
                    data,
                    generations,
                    key if _UUIDISH.match(key) else owner,
                )
        return steered
    if isinstance(value, list):
        return [_steer(item, data, generations, owner) for item in value]
    if isinstance(value, bool) or not _often(data):
        return value
    if isinstance(value, str) and _UUIDISH.match(value):
        return data.draw(st.sampled_from([*PROVIDERS, *CONSUMERS, AGGREGATE]))
    if isinstance(value, int):
        return data.draw(st.integers(0, 8))
    return value


def _generations(api):
    """Body key of a generation -> {uuid: generation now}."""
    with api.db.read() as conn:
        return {
            key: dict(
                conn.execute(sa.select(table.c.uuid, table.c.generation)).all()
            )
            for key, table in _GENERATIONS.items()
        }


def _steer_key(key, data):
    if _UUIDISH.match(key) and _often(data):
        return data.draw(st.sampled_from(PROVIDERS + CONSUMERS))
    if _NAMEISH.match(key) and _often(data):
        return data.draw(st.sampled_from(CLASSES))
    return key


def _steer_query(query, data):
    """Well-formed values for the query keys the API knows, most of the
    time; now and then a key given twice (the second value well-formed or
    not), which the API refuses, or takes with the reference's rules."""
    for key in list(query):
        match = _QUERY_KEY.match(key)
        known = _QUERY_VALUES[match[1]] if match else []
        if known and _often(data):
            query[key] = data.draw(st.sampled_from(known))
        if not _often(data):
            again = data.draw(st.sampled_from([*known, "abc", "", "-1"]))
            first = query[key]
            query[key] = [*(first if isinstance(first, list) else [first])]
            query[key].append(again)


def _ok(resp):
    assert resp.status_code < 300, resp.text


SEED = {
    ROOT: (None, {"VCPU": {"total": 16}, "MEMORY_MB": {"total": 4096}}),
    CHILD: (ROOT, {"CUSTOM_FUZZ": {"total": 4}, "DISK_GB": {"total": 100}}),
    OTHER: (None, {"VCPU": {"total": 8, "allocation_ratio": 2.0}}),
}
SEED_ALLOCATIONS = {CONSUMERS[0]: ROOT, CONSUMERS[1]: OTHER}


def _restore(api):
    """Make the seeded cloud whole again, as far as the fuzzing undid it:
    its providers, their inventory, traits and aggregates, its consumers."""
    _ok(api.put("/resource_classes/CUSTOM_FUZZ"))
    _ok(api.put("/traits/CUSTOM_FUZZ"))
    for uuid, (parent, inventories) in SEED.items():
        path = "/resource_providers/" + uuid
        if api.get(path).status_code == 404:
            body = {"name": "seed-" + uuid, "uuid": uuid}
            if parent:
                body["parent_provider_uuid"] = parent
            _ok(api.post("/resource_providers", body))
        current = api.get(path + "/inventories").json
        if not inventories.keys() <= current["inventories"].keys():
            _ok(
                api.put(
                    path + "/inventories",
                    {
                        "resource_provider_generation": current[
                            "resource_provider_generation"
                        ],
                        "inventories": dict(
                            current["inventories"], **inventories
                        ),
                    },
                )
            )
        current = api.get(path + "/traits").json
        _ok(
            api.put(
                path + "/traits",
                {
                    "resource_provider_generation": current[
                        "resource_provider_generation"
                    ],
                    "traits": sorted(set(current["traits"]) | set(TRAITS[:2])),
                },
            )
        )
        current = api.get(path + "/aggregates").json
        if AGGREGATE not in current["aggregates"]:
            _ok(
                api.put(
                    path + "/aggregates",
                    {
                        "resource_provider_generation": current[
                            "resource_provider_generation"
                        ],
                        "aggregates": [*current["aggregates"], AGGREGATE],
                    },
                )
            )
    for consumer, provider in SEED_ALLOCATIONS.items():
        path = "/allocations/" + consumer
        if not api.get(path).json["allocations"]:
            # Refused (409) when the fuzzing left no room: fine.
            api.put(
                path,
                {
                    "allocations": {provider: {"resources": {"VCPU": 1}}},
                    "project_id": "p",
                    "user_id": "u",
                    "consumer_generation": None,
                    "consumer_type": "INSTANCE",
                },
            )


_OPERATIONS = {}
# One line per run, printed at the end (tests/functional/conftest.py).
SUMMARY = []


def _operations(api):
    """(method, path) -> the schemathesis strategies of that operation in
    every microversion's document (as the server serves it) that has it,
    fitting the schemas and not. Built once: the documents are the same on
    every backend."""
    if not _OPERATIONS:
        for version in microversion.VERSIONS:
            resp = api.get("/allotment/openapi.json?microversion=" + version)
            assert resp.status_code == 200, resp.text
            schema = schemathesis.openapi.from_dict(resp.json)
            for result in schema.get_all_operations():
                operation = result.ok()
                _OPERATIONS.setdefault(
                    (operation.method.upper(), operation.path), []
                ).extend(
                    operation.as_strategy(generation_mode=mode)
                    for mode in GenerationMode
                )
    return _OPERATIONS


def _usage(conn):
    """(provider id, class id) -> (used, capacity or None)."""
    alloc, inv = tables.allocations, tables.inventories
    used = (
        sa.select(
            alloc.c.resource_provider_id.label("rp"),
            alloc.c.resource_class_id.label("rc"),
            sa.func.sum(alloc.c.used).label("used"),
        )
        .group_by(alloc.c.resource_provider_id, alloc.c.resource_class_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            used.c.rp,
            used.c.rc,
            used.c.used,
            inv.c.total,
            inv.c.reserved,
            inv.c.allocation_ratio,
        ).select_from(
            used.outerjoin(
                inv,
                sa.and_(
                    inv.c.resource_provider_id == used.c.rp,
                    inv.c.resource_class_id == used.c.rc,
                ),
            )
        )
    ).all()
    return {
        (r.rp, r.rc): (
            int(r.used),
            None
            if r.total is None
            else (r.total - r.reserved) * r.allocation_ratio,
        )
        for r in rows
    }


def _orphans(conn):
    """Rows pointing at nothing, as readable lines."""
    t = tables
    providers = t.resource_providers.c.id

    def pointing_nowhere(shown, column, target):
        return sa.select(shown).where(~column.in_(sa.select(target)))

    checks = {
        "allocation without provider": pointing_nowhere(
            t.allocations.c.id, t.allocations.c.resource_provider_id, providers
        ),
        "allocation without consumer": pointing_nowhere(
            t.allocations.c.id, t.allocations.c.consumer_id, t.consumers.c.uuid
        ),
        "allocation without inventory": sa.select(t.allocations.c.id).where(
            ~sa.exists().where(
                t.inventories.c.resource_provider_id
                == t.allocations.c.resource_provider_id,
                t.inventories.c.resource_class_id
                == t.allocations.c.resource_class_id,
            )
        ),
        "consumer without allocations": pointing_nowhere(
            t.consumers.c.id, t.consumers.c.uuid, t.allocations.c.consumer_id
        ),
        "inventory without provider": pointing_nowhere(
            t.inventories.c.id, t.inventories.c.resource_provider_id, providers
        ),
        "trait link without provider": pointing_nowhere(
            t.resource_provider_traits.c.trait_id,
            t.resource_provider_traits.c.resource_provider_id,
            providers,
        ),
        "aggregate link without provider": pointing_nowhere(
            t.resource_provider_aggregates.c.aggregate_id,
            t.resource_provider_aggregates.c.resource_provider_id,
            providers,
        ),
        "aggregate link without aggregate": pointing_nowhere(
            t.resource_provider_aggregates.c.aggregate_id,
            t.resource_provider_aggregates.c.aggregate_id,
            t.placement_aggregates.c.id,
        ),
        "inventory of no class": pointing_nowhere(
            t.inventories.c.id,
            t.inventories.c.resource_class_id,
            t.resource_classes.c.id,
        ),
        "consumer without project": pointing_nowhere(
            t.consumers.c.uuid, t.consumers.c.project_id, t.projects.c.id
        ),
        "consumer without user": pointing_nowhere(
            t.consumers.c.uuid, t.consumers.c.user_id, t.users.c.id
        ),
        "provider whose root is gone": pointing_nowhere(
            t.resource_providers.c.uuid,
            t.resource_providers.c.root_provider_id,
            providers,
        ),
    }
    found = []
    for what, query in checks.items():
        found += ["%s: %s" % (what, row[0]) for row in conn.execute(query)]
    return found


def _describe(case, resp):
    return "%s %s query=%r headers=%r body=%r -> %s %s" % (
        case.method,
        case.formatted_path,
        case.query,
        case.headers,
        case.body,
        resp.status_code,
        resp.text[:400],
    )


def test_generated_requests_never_get_a_5xx(api, backend):
    _restore(api)
    if EXAMPLES:
        examples = int(EXAMPLES)
    else:
        examples = LONG_EXAMPLES if LONG else FUZZ_EXAMPLES[backend]
    failures = []
    statuses = collections.Counter()

    def send(case, data):
        for name in list(case.path_parameters or {}):
            if name in KNOWN and _often(data):
                case.path_parameters[name] = data.draw(
                    st.sampled_from(KNOWN[name])
                )
        if _often(data):
            # Mostly as an administrator and service (the reshaper's rule);
            # else with the generated token.
            case.headers = {
                name: value
                for name, value in (case.headers or {}).items()
                if name.lower() not in ("x-auth-token", "x-roles")
            }
            case.headers.update(ADMIN)
        if isinstance(case.query, dict):
            _steer_query(case.query, data)
        if isinstance(case.body, (dict, list)):
            parameters = case.path_parameters or {}
            case.body = _steer(
                case.body,
                data,
                _generations(api),
                parameters.get("uuid") or parameters.get("consumer_uuid"),
            )
        writes = case.method in ("PUT", "POST") and case.path.startswith(
            _ALLOCATION_WRITES
        )
        if writes:
            with api.db.read() as conn:
                before = _usage(conn)
        resp = case.call(app=api.app)
        statuses[resp.status_code] += 1
        if resp.status_code >= 500:
            failures.append(_describe(case, resp))
        if writes and resp.status_code < 300:
            with api.db.read() as conn:
                after = _usage(conn)
            for pair, (used, capacity) in after.items():
                grew = used > before.get(pair, (0, None))[0]
                if grew and (capacity is None or used > capacity):
                    failures.append(
                        "usage %s of %s above capacity %s after %s"
                        % (used, pair, capacity, _describe(case, resp))
                    )

    # Each operation in turn, at microversions drawn among those serving
    # it: drawing the operation too would starve those whose bodies are
    # costly to generate (the reshaper's).
    def fuzzer(strategies):
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def fuzz(data):
            if sum(statuses.values()) % RESTORE_EVERY == 0:
                _restore(api)
            send(data.draw(data.draw(st.sampled_from(strategies))), data)

        return fuzz

    for strategies in _operations(api).values():
        fuzzer(strategies)()
        _restore(api)

    SUMMARY.append(
        "%s: %d requests (%d per operation), answers %s"
        % (
            backend,
            sum(statuses.values()),
            examples,
            dict(sorted(statuses.items())),
        )
    )
    assert not failures, "\n".join(failures[:20])
    with api.db.read() as conn:
        assert _orphans(conn) == []
    support.assert_snapshot_exact(api.db)
