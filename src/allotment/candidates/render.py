"""The JSON answer of GET /allocation_candidates.

Allocation requests (1.10-1.11: a list of provider allocations; 1.12+: a
dict keyed by provider uuid; 1.34+: with the group -> providers
``mappings``) are filled into text templates: a candidate's shape depends
only on which of its slots share a provider, so each shape is rendered once
through the general code with placeholder uuids and every candidate of that
shape is a single ``%`` substitution. Provider summaries follow, for the
trees the candidates used (only the used providers below 1.29): capacity
and usage of the requested classes (all classes from 1.27), traits from
1.17, parent and root uuids from 1.29; each provider's summary is cached in
the snapshot version (``Version.summaries``), which drops it whenever the
provider changes (the key names the snapshot's class-name epoch, which
moves when a custom class is renamed).
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import orjson

if TYPE_CHECKING:
    from allotment.candidates.combine import ByProvider
    from allotment.candidates.find import Plan
    from allotment.candidates.groups import Flags
    from allotment.candidates.snapshot import Version

_PLACEHOLDER = re.compile(r'"@(\d+)@"')
# What a provider summary shows (``_summaries``): the classes (None: all),
# traits, parent and root, and the class-name epoch.
_SummaryKey = tuple[frozenset[int] | None, bool, bool, int]


class AllocationRequests:
    """Renders candidates of one plan as allocation requests, with the
    per-slot names looked up once."""

    def __init__(self, plan: Plan, flags: Flags) -> None:
        names = plan.rc_names
        self.uuids = plan.uuids
        self.slots = [
            (
                slot.suffix,
                slot.granular,
                tuple(
                    (names[rc_id], amount) for rc_id, amount in slot.demands
                ),
            )
            for slot in plan.problem.slots
        ]
        self.dict_form = flags.dict_form
        self.mappings = flags.mappings
        self._templates: dict[
            tuple[int, ...], tuple[str, Callable[[Any], Any]]
        ] = {}
        self._uuid_of = plan.uuids.__getitem__

    def dumps(self, choice: tuple[int, ...]) -> str:
        """The candidate's JSON text."""
        shape = tuple(map(choice.index, choice))
        template = self._templates.get(shape)
        if template is None:
            template = self._templates[shape] = self._template(shape)
        text, providers = template
        return text % tuple(map(self._uuid_of, providers(choice)))

    def _template(
        self, shape: tuple[int, ...]
    ) -> tuple[str, Callable[[Any], Any]]:
        """(text with a %s per uuid, the providers of a choice that fill
        them, in order: a tuple)."""
        placeholders = {i: "@%d@" % i for i in shape}
        text = orjson.dumps(self(shape, placeholders)).decode()
        positions = [int(i) for i in _PLACEHOLDER.findall(text)]
        providers = (
            operator.itemgetter(*positions)
            if len(positions) > 1
            else lambda choice: (choice[positions[0]],)
        )
        return _PLACEHOLDER.sub('"%s"', text.replace("%", "%%")), providers

    def __call__(
        self, choice: Sequence[int], uuids: ByProvider[str] | None = None
    ) -> dict[str, object]:
        """The candidate as JSON-ready data."""
        uuids = self.uuids if uuids is None else uuids
        allocations: dict[str, dict[str, dict[str, int]]] = {}
        mappings: dict[str, list[str]] = {}
        for (suffix, granular, demands), rp in zip(
            self.slots, choice, strict=False
        ):
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
            return {
                "allocations": [
                    {
                        "resource_provider": {"uuid": uuid},
                        "resources": entry["resources"],
                    }
                    for uuid, entry in allocations.items()
                ]
            }
        if self.mappings:
            return {"allocations": allocations, "mappings": mappings}
        return {"allocations": allocations}


CHUNK_BYTES = 256 * 1024
# Candidates rendered together (a few tens of kilobytes of text).
_BATCH = 64


def answer(
    plan: Plan | None,
    choices: Iterable[tuple[int, ...]],
    flags: Flags,
    snap: Version,
) -> Generator[bytes, None, None]:
    """The body as an iterator of byte chunks of about CHUNK_BYTES: the
    candidates ``choices`` of ``plan`` (None: no candidates) as they are
    generated, then the summaries of what they used, from the snapshot
    version ``snap`` (immutable: no lock is held while streaming).
    Memory stays bounded however many candidates there are. Each chunk
    is a write of the server's: a small answer (a claim's ten) is one."""
    used: set[int] = set()
    parts = ['{"allocation_requests":[']
    size = 0
    if plan is not None:
        slots = plan.problem.slots
        resourced = [i for i, slot in enumerate(slots) if slot.demands]
        # The providers a candidate's resources come from: all but those
        # of groups without resources (1.35's resourceless groups).
        pick: Callable[[tuple[int, ...]], Iterable[int]] | None = None
        if len(resourced) < len(slots):
            pick = lambda choice: [choice[i] for i in resourced]  # noqa: E731
        dumps = AllocationRequests(plan, flags).dumps
        separator = ""
        # A batch at a time: the per-candidate work is then a map over
        # the batch (an unlimited answer at 10,000 nested hosts renders
        # 50,000 candidates).
        rest = iter(choices)
        batches = iter(lambda: list(itertools.islice(rest, _BATCH)), [])
        for batch in batches:
            used.update(
                itertools.chain.from_iterable(
                    batch if pick is None else map(pick, batch)
                )
            )
            text = separator + ",".join(map(dumps, batch))
            separator = ","
            parts.append(text)
            size += len(text)
            if size >= CHUNK_BYTES:
                yield "".join(parts).encode()
                parts, size = [], 0
    # The summaries come in chunks of their own (bytes, never decoded):
    # the small ones join what precedes them, a large one goes as it is.
    pending = ("".join(parts) + '],"provider_summaries":{').encode()
    for chunk in _summaries(plan, used, flags, snap):
        if len(pending) >= CHUNK_BYTES:
            yield pending
            pending = chunk
        else:
            pending += chunk
    yield pending + b"}}"


# Provider summaries per chunk of the body (a few hundred bytes each).
_SUMMARIES_PER_CHUNK = 1024


def _summaries(
    plan: Plan | None, used: set[int], flags: Flags, snap: Version
) -> Iterator[bytes]:
    """The summaries' text in chunks: joined whole, those of every tree
    of a large answer would be copied once more (tens of megabytes)."""
    if not used:
        return
    if flags.nested_summaries:
        root_of = snap.root_of
        shown = set()
        for root in {root_of[rp] for rp in used}:
            shown |= snap.tree(root)
    else:
        shown = used
    # (a provider is used only with a plan)
    key: _SummaryKey = (
        None
        if flags.all_classes_in_summaries
        else frozenset(plan.requested_rc_ids),  # type: ignore[union-attr]
        flags.traits_in_summaries,
        flags.nested_summaries,
        snap.names_epoch,
    )
    cached = snap.summaries(key)
    fragments: list[bytes] = [cached[rp] for rp in shown]  # type: ignore[misc]
    if None in fragments:  # (rendered once per version and key)
        for i, rp in enumerate(shown):
            if fragments[i] is None:
                fragments[i] = cached[rp] = _summary(rp, key, snap)
    for start in range(0, len(fragments), _SUMMARIES_PER_CHUNK):
        chunk = b",".join(fragments[start : start + _SUMMARIES_PER_CHUNK])
        yield chunk if start == 0 else b"," + chunk


def _summary(rp: int, key: _SummaryKey, snap: Version) -> bytes:
    """``"uuid":{...}`` for the provider at row ``rp``."""
    classes, traits, nested, _epoch = key
    names = snap.rc_names
    body: dict[str, object] = {
        "resources": {
            names[rc_id]: {"capacity": int(room.capacity), "used": room.used}
            for rc_id, room in snap.inventory(rp).items()
            if classes is None or rc_id in classes
        }
    }
    if traits:
        body["traits"] = snap.trait_names_of(rp)
    if nested:
        parent = snap.parent_of[rp]
        body["parent_provider_uuid"] = (
            None if parent is None else snap.uuid_of[parent]
        )
        body["root_provider_uuid"] = snap.uuid_of[snap.root_of[rp]]
    return orjson.dumps({snap.uuid_of[rp]: body})[1:-1]
