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


class AllocationRequests:
    """Renders candidates of one plan as JSON-ready allocation requests,
    with the per-slot names looked up once."""

    def __init__(self, plan, version):
        names = plan.rc_names
        self.uuids = plan.uuids
        self.slots = [
            (slot.suffix, slot.granular,
             tuple((names[rc_id], amount) for rc_id, amount in slot.demands))
            for slot in plan.problem.slots]
        self.dict_form = version.matches((1, 12))
        self.mappings = version.matches((1, 34))
        self.resourced = [i for i, slot in enumerate(self.slots) if slot[2]]
        # Granular-only requests whose providers differ need no summing:
        # their JSON is joined from per (slot, provider) pieces.
        self.joinable = all(slot[1] for slot in self.slots)
        self._pieces = {}

    def dumps(self, choice):
        """The candidate's JSON bytes."""
        if self.joinable:
            rps = [choice[i] for i in self.resourced]
            if len(set(rps)) == len(rps):
                return self._joined(choice)
        return orjson.dumps(self(choice))

    def _piece(self, index, rp):
        piece = self._pieces.get((index, rp))
        if piece is None:
            suffix, _granular, demands = self.slots[index]
            uuid = self.uuids[rp]
            resources = dict(demands)
            if not demands:
                allocation = b""
            elif self.dict_form:
                allocation = orjson.dumps(
                    {uuid: {"resources": resources}})[1:-1]
            else:
                allocation = orjson.dumps({
                    "resource_provider": {"uuid": uuid},
                    "resources": resources})
            mapping = orjson.dumps({suffix: [uuid]})[1:-1]
            piece = self._pieces[index, rp] = (allocation, mapping)
        return piece

    def _joined(self, choice):
        pieces = [self._piece(i, rp) for i, rp in enumerate(choice)]
        allocations = b",".join(a for a, _m in pieces if a)
        if not self.dict_form:
            return b'{"allocations":[' + allocations + b"]}"
        if not self.mappings:
            return b'{"allocations":{' + allocations + b"}}"
        return (b'{"allocations":{' + allocations + b'},"mappings":{'
                + b",".join(m for _a, m in pieces) + b"}}")

    def __call__(self, choice):
        uuids = self.uuids
        allocations = {}
        mappings = {}
        for (suffix, granular, demands), rp in zip(self.slots, choice):
            uuid = uuids[rp]
            if granular:
                mappings[suffix] = [uuid]
            else:
                members = mappings.get(suffix)
                if members is None:
                    mappings[suffix] = [uuid]
                elif uuid not in members:
                    members.append(uuid)
            if demands:
                entry = allocations.get(uuid)
                if entry is None:
                    entry = allocations[uuid] = {"resources": {}}
                resources = entry["resources"]
                for name, amount in demands:
                    resources[name] = resources.get(name, 0) + amount
        if not self.dict_form:
            return {"allocations": [
                {"resource_provider": {"uuid": uuid},
                 "resources": entry["resources"]}
                for uuid, entry in allocations.items()]}
        if self.mappings:
            return {"allocations": allocations, "mappings": mappings}
        return {"allocations": allocations}


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
    partial = len(resourced) < len(slots)
    render = AllocationRequests(plan, version) if plan else None
    for choice in choices:
        used.update([choice[i] for i in resourced] if partial else choice)
        batch.append(render.dumps(choice))
        if len(batch) == _BATCH:
            yield (b"" if first else b",") + b",".join(batch)
            first = False
            batch = []
    if batch:
        yield (b"" if first else b",") + b",".join(batch)
    summaries = summarize(used) if used else []
    yield (b'],"provider_summaries":'
           + orjson.dumps(provider_summaries(summaries, version)) + b"}")
