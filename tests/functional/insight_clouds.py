"""Clouds and checks shared by the tests of /allotment/explain and
/allotment/capacity: building providers through the API, and the
agreement of both with GET /allocation_candidates and with claims."""

import itertools
import uuid

from tests.functional.test_allocation_candidates import _provider

AC = "/allocation_candidates?"
EXPLAIN = "/allotment/explain/allocation_candidates?"
CAPACITY = "/allotment/capacity?"


def provider(api, name, **kwargs):
    return _provider(api, name, **kwargs)


def claim(api, allocations, version="1.39"):
    """PUT the allocations of a new consumer: the response."""
    return api.put(
        "/allocations/%s" % uuid.uuid4(),
        {
            "allocations": allocations,
            "project_id": str(uuid.uuid4()),
            "user_id": str(uuid.uuid4()),
            "consumer_generation": None,
            "consumer_type": "INSTANCE",
        },
        version=version,
    )


def without_request_id(body):
    return {
        "errors": [
            {k: v for k, v in e.items() if k != "request_id"}
            for e in body["errors"]
        ]
    }


def check_explain_agrees(api, query, version="latest"):
    """GET /allotment/explain/allocation_candidates answers as GET
    /allocation_candidates does for ``query``: the same error, or final
    counts equal to its answer's. Returns the explanation."""
    found = api.get(AC + query, version=version)
    explained = api.get(EXPLAIN + query, version=version)
    assert explained.status_code == found.status_code, (
        query,
        found.text,
        explained.text,
    )
    if found.status_code != 200:
        assert without_request_id(explained.json) == without_request_id(
            found.json
        )
        return None
    body = explained.json
    requests = found.json["allocation_requests"]
    final = body["together"][-1]
    assert final["constraint"] == "limit"
    assert body["allocation_requests"] == len(requests), query
    assert final["candidates"] == len(requests), query
    used = set()
    for request in requests:
        allocations = request["allocations"]
        used.update(
            allocations
            if isinstance(allocations, dict)
            else [a["resource_provider"]["uuid"] for a in allocations]
        )
    assert final["providers"] == len(used), query
    summaries = found.json["provider_summaries"]
    if version == "latest":
        roots = {summaries[rp]["root_provider_uuid"] for rp in used}
        assert final["trees"] == len(roots), query
    together = body["together"]
    for group in body["groups"]:
        # A tree serving every group serves each.
        assert group["trees"] >= together[0]["trees"], query
    if len(body["groups"]) == 1:
        # One group: its trees are those the search starts from.
        assert body["groups"][0]["trees"] == together[0]["trees"], query
    if requests:
        assert body["empty_because"] is None
        for group in body["groups"]:
            assert group["trees"] > 0
    else:
        assert body["empty_because"].startswith("Nothing is left after `")
    for group in body["groups"]:
        steps = group["steps"]
        for before, after in itertools.pairwise(steps):
            assert after["trees"] <= before["trees"]
        if steps:
            assert group["trees"] == steps[-1]["trees"]
            assert group["providers"] == steps[-1]["providers"]
        suffix = group["suffix"]
        if suffix and version == "latest":
            mapped = {
                rp for r in requests for rp in r["mappings"].get(suffix, ())
            }
            assert len(mapped) <= group["providers"], query
    return body


def fill(api, query):
    """Claim the first candidate of ``query`` until none is left: the
    number of claims per root provider uuid (the root of its first
    provider that is not a sharing one, else of its first), and whether
    a sharing provider was claimed from."""
    per_root: dict[str, int] = {}
    shared = False
    last = None
    while True:
        found = api.get(AC + query + "&limit=1")
        assert found.status_code == 200, found.text
        requests = found.json["allocation_requests"]
        if not requests:
            break
        allocations = requests[0]["allocations"]
        resp = claim(api, allocations)
        assert resp.status_code == 204, resp.text
        last = allocations
        summaries = found.json["provider_summaries"]
        shared = shared or any(
            "MISC_SHARES_VIA_AGGREGATE" in summaries[rp]["traits"]
            for rp in allocations
        )
        roots = [
            summaries[rp]["root_provider_uuid"]
            for rp in allocations
            if "MISC_SHARES_VIA_AGGREGATE" not in summaries[rp]["traits"]
        ] or [summaries[rp]["root_provider_uuid"] for rp in allocations]
        per_root[roots[0]] = per_root.get(roots[0], 0) + 1
    if last is not None:
        # The cloud is full for it: one more claim is refused.
        assert claim(api, last).status_code == 409
    return per_root, shared


def check_capacity_agrees(api, query):
    """GET /allotment/capacity for ``query`` equals the claims that
    succeed when the cloud is filled one claim at a time."""
    answer = api.get(CAPACITY + query)
    if answer.status_code == 400:
        # A bad query: the same error as from GET /allocation_candidates.
        found = api.get(AC + query)
        assert without_request_id(found.json) == without_request_id(
            answer.json
        )
        return None, None
    assert answer.status_code == 200, answer.text
    body = answer.json
    assert body["exact"]
    claimed, shared = fill(api, query)
    assert body["total"] == sum(claimed.values()), (query, body, claimed)
    if not shared:
        # Each claim in one tree: the same count per root.
        assert {r["uuid"]: r["fits"] for r in body["roots"]} == claimed
    return body, claimed
