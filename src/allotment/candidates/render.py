"""The JSON answer of GET /allocation_candidates, streamed.

Allocation requests are rendered one by one as candidates are generated
(1.10-1.11: a list of provider allocations; 1.12+: a dict keyed by provider
uuid; 1.34+: with the group -> providers ``mappings``), so memory does not
grow with the number of candidates. Provider summaries follow, for the
trees the candidates used (only the used providers below 1.29): capacity
and usage of the requested classes (all classes from 1.27), traits from
1.17, parent and root uuids from 1.29.
"""

import orjson

_BATCH = 256


def allocation_request(plan, choice, version):
    """The JSON-ready allocation request for one candidate."""
    slots = plan.problem.slots
    uuids = plan.uuids
    names = plan.rc_names
    by_provider = {}
    mappings = {}
    for slot, rp in zip(slots, choice):
        uuid = uuids[rp]
        members = mappings.setdefault(slot.suffix, [])
        if uuid not in members:
            members.append(uuid)
        if not slot.demands:
            continue
        resources = by_provider.setdefault(uuid, {})
        for rc_id, amount in slot.demands:
            name = names[rc_id]
            resources[name] = resources.get(name, 0) + amount
    if not version.matches((1, 12)):
        return {"allocations": [
            {"resource_provider": {"uuid": uuid}, "resources": resources}
            for uuid, resources in by_provider.items()]}
    body = {"allocations": {uuid: {"resources": resources}
                            for uuid, resources in by_provider.items()}}
    if version.matches((1, 34)):
        body["mappings"] = mappings
    return body


def provider_summaries(summaries, version):
    traits = version.matches((1, 17))
    nested = version.matches((1, 29))
    result = {}
    for summary in summaries:
        body = {"resources": {
            name: {"capacity": capacity, "used": used}
            for name, (capacity, used) in summary.resources.items()}}
        if traits:
            body["traits"] = summary.traits
        if nested:
            body["parent_provider_uuid"] = summary.parent_uuid
            body["root_provider_uuid"] = summary.root_uuid
        result[summary.uuid] = body
    return result


def stream(plan, choices, version, summarize):
    """Yield the answer's bytes. ``summarize(used provider ids)`` returns
    the summaries of what the candidates used, once all are out."""
    yield b'{"allocation_requests":['
    used = set()
    batch = []
    first = True
    slots = plan.problem.slots if plan else ()
    resourced = [i for i, slot in enumerate(slots) if slot.demands]
    for choice in choices:
        for i in resourced:
            used.add(choice[i])
        batch.append(orjson.dumps(allocation_request(plan, choice, version)))
        if len(batch) == _BATCH:
            yield (b"" if first else b",") + b",".join(batch)
            first = False
            batch = []
    if batch:
        yield (b"" if first else b",") + b",".join(batch)
    summaries = summarize(used) if used else []
    yield (b'],"provider_summaries":'
           + orjson.dumps(provider_summaries(summaries, version)) + b"}")
