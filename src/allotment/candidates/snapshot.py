"""An in-memory copy of every provider, kept exact through the change log.

One ``Snapshot`` per database per process (``for_database``). It holds an
immutable ``Version``: every provider with the indexes the candidates
search needs, as of change number ``Version.seq`` of the provider change
log (``storage/changes.py``). A request calls ``Snapshot.version()``,
which first brings the snapshot up to the log's head, then works on the
version it got for as long as it likes, streaming included, without any
lock: a refresh never changes a published version, it builds the next one
and swaps it in.

- A refresh reads the log's head and the providers changed since the
  current version in one consistent read, reloads only those providers
  (a few ``IN (...)`` queries; only their rows and usage when the log
  says nothing else of them changed: ``_load_usage``) and builds the next
  version by copying just the columns and index entries they touch
  (``_Next``); or it loads everything (``assemble``, column by column
  from six queries), on first use and whenever the log says so (an
  "everything" entry, pruned entries, a re-created log), or when rows no
  longer follow ids or half of them are unused (see below). Only one
  thread refreshes at a time; the others wait for it, never for a
  reader.
- A load either completes or leaves nothing behind: the next version is
  published only once fully built, together with its change number. After
  any error the next refresh loads everything again.
- ``start`` loads the snapshot when the worker starts (before it takes
  requests) and keeps a maintenance thread: it retries the load while the
  database cannot be reached (requests meanwhile get ``Unavailable``, a
  503) and, every ``check_interval`` seconds, compares a fingerprint of the
  snapshot with the database (``candidates/fingerprint.py``) and reloads
  when they differ, naming what differed (writes made with SQL by hand);
  then runs the usage totals check if this worker claims it (one worker of
  the deployment per interval: ``periodic_checks``).
- ``counters()`` reports the version's age, providers held, loads and
  drift repairs for the metrics.

A version is columns, not an object per provider: a provider is a *row*
(rows follow provider ids, so sorting rows sorts ids; the planner, the
search and the rendering name providers by row), and each column is an
``array`` or a list indexed by row:

- ``ids``, ``uuid_of`` (None: a deleted provider, whose row stays empty
  until the next full load), ``root_of`` and ``parent_of`` (rows),
  ``traits_of`` and ``aggregates_of`` (frozensets, one shared object per
  distinct set), ``layout_of`` (an interned {class id: offset}) and
  ``inv_at``: where the provider's inventories start in the inventory
  columns ``total``, ``reserved``, ``ratio``, ``min_unit``, ``max_unit``,
  ``step``, ``used`` and ``headroom`` (the most one request may take; see
  ``Room``, which ``inventory`` builds on demand); and for the provider
  list, ``name_of``, ``generation_of`` and ``modified_of`` (when it last
  changed, ``clock.modified``), with ``rootless``, the rows whose
  root_provider_id is NULL;
- indexes of rows (lists, as cheap as arrays since a row's int is one
  object shared by all, and quicker to walk): ``by_class`` (with
  ``at_class``, an array of the inventory positions), ``by_trait``,
  ``by_agg``, and ``trees`` (root -> rows, only for trees of more than one
  provider); ``id_of``: uuid -> row;
- the roots each sharing provider is anchored to through its aggregates,
  computed on demand and dropped when aggregate membership or trees change;
- the rendered provider summaries and list entries (``summaries``),
  filled in by requests; a refresh drops those of the providers it changed
  (all of them when a provider's uuid changed: its tree shows it);
- the rows with room for an amount of a class (``fitting``), kept for the
  first amounts asked of the version (``_FITS_KEPT``); a later version
  derives an entry, when asked, from the latest version's that has it by
  re-checking only the rows changed since;
- ``rc_names``: the name of every class held; a renamed custom class moves
  ``names_epoch``, which keys the cached summaries.

A version stays current, shared by every request, until a refresh finds
something new; the caches fill in from any thread (each entry is
replaced whole, and a refresh copies the summaries' keys before walking
them).

A changed provider keeps its row, and its inventory positions while its
classes stay the same (a claim rewrites ``used`` and ``headroom`` in copies of
those two columns); otherwise its inventories move to the end. Deleted rows
and moved positions are wasted until a full load, which comes once more
than half are wasted, or when a new provider's id is below one held.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import logging
import operator
import threading
import time
import weakref
from array import array
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import overload

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from allotment import metrics
from allotment.candidates import fingerprint
from allotment.domain import capacity
from allotment.domain import resource_classes
from allotment.domain import traits
from allotment.storage import changes
from allotment.storage import clock
from allotment.storage import periodic
from allotment.storage import tables
from allotment.storage import usage_totals

if TYPE_CHECKING:
    from allotment.storage.engine import Database

# A provider's inventory as ``_load`` read it: (class id, total, reserved,
# allocation ratio, used, min_unit, max_unit, step).
_Inventory = tuple[int, int, int, float, int, int, int, int]
# Rows as the driver returns them (see ``Loaded``): tuples, or
# SQLAlchemy rows.
_Rows = Sequence[Any]
# Interned inventory layouts: classes -> {class id: offset}.
_Layouts = dict[tuple[int, ...], dict[int, int]]
# Interned trait and aggregate sets: each set -> its first copy.
_Shared = dict[frozenset[int], frozenset[int]]
# (class id, amount) -> (an earlier version's rows with room, the rows
# changed since): what ``Version.fitting`` derives an entry from.
_FitsFrom = dict[tuple[int, int], tuple[frozenset[int], frozenset[int]]]

_T = TypeVar("_T")

LOG = logging.getLogger(__name__)

RP = tables.resource_providers
INV = tables.inventories
ALLOC = tables.allocations
RPT = tables.resource_provider_traits
RPA = tables.resource_provider_aggregates
TRAITS = tables.traits
AGG = tables.placement_aggregates

SHARING_TRAIT = "MISC_SHARES_VIA_AGGREGATE"

_CHUNK = 500
_RELOAD_ALL_ABOVE = (
    5000  # changed providers beyond which a full load is cheaper
)
_SHARED_SLACK = 1000
_WASTE_SLACK = 1000
RETRY_SECONDS = 2.0  # between load attempts while the database is away
# (class, amount) entries of rows with room a version keeps, and the
# changed rows beyond which deriving one from the previous version's is
# no cheaper than scanning the class again.
_FITS_KEPT = 16
# A scope narrower than one in this many of the providers is checked for
# room row by row; a wider one takes the entry kept (``fitting``).
_SCOPED = 16
# Kinds of rendered fragments a version keeps (kinds of summaries, list
# entries per microversion and mount point), each a list of a slot per row.
_KINDS_KEPT = 32
_FITS_DERIVE_ROWS = 4096


class Unavailable(Exception):
    """The snapshot cannot be brought up to date now (database away, or
    the first load still running); the request should be retried."""


class Room:
    """One inventory of a provider with its usage, as ``Version.inventory``
    gives it. ``capacity`` is (total - reserved) * allocation_ratio;
    ``headroom`` is the most one request may still take (capacity left,
    capped by max_unit): an amount fits when min_unit <= amount <= headroom
    and amount is a multiple of step."""

    __slots__ = (
        "capacity",
        "headroom",
        "max_unit",
        "min_unit",
        "ratio",
        "reserved",
        "step",
        "total",
        "used",
    )

    def __init__(
        self,
        total: int,
        reserved: int,
        ratio: float,
        used: int,
        min_unit: int,
        max_unit: int,
        step: int,
    ) -> None:
        self.total = total
        self.reserved = reserved
        self.ratio = ratio
        self.capacity = capacity.capacity(total, reserved, ratio)
        self.used = used
        self.min_unit = min_unit
        self.max_unit = max_unit
        self.step = step
        self.headroom = capacity.headroom(self.capacity, used, max_unit)


class Provider:
    """One provider as ``_load`` read it, before ``_Next`` files it into a
    version's columns. ``inventory`` holds (class id, total, reserved,
    allocation ratio, used, min_unit, max_unit, step) tuples by class id;
    ``trait_names`` the names of ``traits`` in id order; ``modified`` is
    ``clock.modified`` of its time stamps;
    ``rootless`` says its root_provider_id is NULL (``root`` is then its
    own id)."""

    __slots__ = (
        "aggregates",
        "generation",
        "id",
        "inventory",
        "modified",
        "name",
        "parent",
        "root",
        "rootless",
        "trait_names",
        "traits",
        "uuid",
    )

    def __init__(
        self,
        rp_id: int,
        uuid: str,
        parent: int | None,
        root: int,
        name: str | None,
        generation: int | None,
        modified: int,
        rootless: bool,
    ) -> None:
        self.id = rp_id
        self.uuid = uuid
        self.parent = parent
        self.root = root
        self.name = name
        self.generation = generation
        self.modified = modified
        self.rootless = rootless
        self.inventory: list[_Inventory] = []
        self.traits = _NONE
        self.trait_names: tuple[str, ...] = ()
        self.aggregates = _NONE


_NONE: frozenset[int] = frozenset()
_NO_LAYOUT: dict[int, int] = {}


class _Facts:
    """What never changes once known, shared by every version: aggregate
    uuid -> id (an aggregate's id never changes and its row is never
    deleted) and the id of MISC_SHARES_VIA_AGGREGATE (a standard trait)."""

    def __init__(self) -> None:
        self.agg_ids: dict[str, int] = {}
        self.sharing_trait: int | None = None


# Per row: the provider's id, uuid (None once it is deleted), root and
# parent rows, interned trait and aggregate sets, the interned layout of its
# inventories ({class id: offset}) and where they start; and what the
# provider list shows besides: name, generation and when it was last
# modified (``clock.modified``).
_ROW_COLUMNS = (
    "ids",
    "uuid_of",
    "root_of",
    "parent_of",
    "traits_of",
    "aggregates_of",
    "layout_of",
    "inv_at",
    "name_of",
    "generation_of",
    "modified_of",
)
# Per inventory position.
_INVENTORY_COLUMNS = (
    "total",
    "reserved",
    "ratio",
    "min_unit",
    "max_unit",
    "step",
    "used",
    "headroom",
)
# Key -> rows (by_class also has the rows' inventory positions in at_class).
_INDEXES = ("by_class", "at_class", "by_trait", "by_agg", "trees")


class Version:
    """Every provider of one database as of change number ``seq``, in the
    columns and indexes described above. Never modified once published
    (only the anchors and summaries caches fill in).

    A provider is named by its row everywhere but in ``ids``: the planner,
    the search and the rendering work on rows. The columns, the indexes,
    ``id_of`` and ``trait_names`` (trait id -> name, for the traits held)
    are set by who builds it: ``assemble`` or ``_Next``."""

    # Per row (see _ROW_COLUMNS).
    ids: array[int]
    uuid_of: list[str | None]
    root_of: list[int]
    parent_of: list[int | None]
    traits_of: list[frozenset[int]]
    aggregates_of: list[frozenset[int]]
    layout_of: list[dict[int, int]]
    inv_at: array[int]
    name_of: list[str | None]
    generation_of: list[int | None]
    modified_of: array[int]
    # Per inventory position (see _INVENTORY_COLUMNS).
    total: array[int]
    reserved: array[int]
    ratio: array[float]
    min_unit: array[int]
    max_unit: array[int]
    step: array[int]
    used: array[int]
    headroom: array[int]
    # Indexes (see _INDEXES), and by uuid / trait id.
    by_class: dict[int, list[int]]
    at_class: dict[int, array[int]]
    by_trait: dict[int, list[int]]
    by_agg: dict[int, list[int]]
    trees: dict[int, list[int]]
    id_of: dict[str, int]
    trait_names: dict[int, str]
    # Rows of providers whose root_provider_id is NULL (held as their own
    # roots; the provider list leaves them out): a database before the
    # online data migrations.
    rootless: frozenset[int]

    def __init__(self, facts: _Facts) -> None:
        self.live = 0  # providers held
        self.nested = 0  # providers with a parent
        self.waste = 0  # rows and inventory positions no longer used
        self.rc_names: dict[int, str] = {}
        self.names_epoch = 0
        self.seq: int | None = None
        self.built_at = time.monotonic()
        self._facts = facts
        self._anchors: dict[int, set[int]] = {}
        self._summaries: dict[Hashable, list[bytes | None]] = {}
        # (class id, amount) -> rows with room; and per key, an earlier
        # version's entry with the rows changed since.
        self._fits: dict[tuple[int, int], frozenset[int]] = {}
        self._fits_from: _FitsFrom = {}

    # -- providers -----------------------------------------------------

    def row_of(self, rp_id: int) -> int | None:
        """The row of the provider ``rp_id`` (None: it is not held)."""
        ids = self.ids
        row = bisect.bisect_left(ids, rp_id)
        if row == len(ids) or ids[row] != rp_id or self.uuid_of[row] is None:
            return None
        return row

    def rows(self) -> list[int]:
        """The rows of the providers held, in id order."""
        uuid_of = self.uuid_of
        return [row for row in range(len(uuid_of)) if uuid_of[row] is not None]

    def positions(self, row: int) -> Iterator[tuple[int, int]]:
        """(class id, position in the inventory columns) of each inventory
        of the provider at ``row``, in class id order."""
        start = self.inv_at[row]
        return (
            (rc_id, start + offset)
            for rc_id, offset in self.layout_of[row].items()
        )

    def inventory(self, row: int) -> dict[int, Room]:
        """class id -> ``Room`` of the provider at ``row``."""
        return {
            rc_id: Room(
                self.total[at],
                self.reserved[at],
                self.ratio[at],
                self.used[at],
                self.min_unit[at],
                self.max_unit[at],
                self.step[at],
            )
            for rc_id, at in self.positions(row)
        }

    def last_modified(self, rows: Iterable[int]) -> datetime.datetime | None:
        """The latest of the providers' ``modified`` time stamps (None when
        none has one)."""
        latest = max(
            map(self.modified_of.__getitem__, rows), default=clock.NEVER
        )
        return None if latest == clock.NEVER else clock.from_micros(latest)

    def trait_names_of(self, row: int) -> list[str]:
        """The names of the provider's traits, in trait id order."""
        names = self.trait_names
        return [names[t] for t in sorted(self.traits_of[row])]

    def tree(self, row: int) -> set[int]:
        """The rows of the tree rooted at ``row`` (empty when it is no
        root)."""
        found = self.trees.get(row)
        if found is not None:
            return set(found)
        if self.root_of[row] == row:
            return {row}
        return set()

    def summaries(self, key: Hashable) -> list[bytes | None]:
        """The cache of rendered fragments of the kind ``key`` (candidates'
        summaries, list entries): row -> bytes or None, filled in by the
        renderers. Beyond ``_KINDS_KEPT`` kinds, a new kind gets an empty
        list that is not kept."""
        found = self._summaries.get(key)
        if found is None:
            found = [None] * len(self.ids)
            if len(self._summaries) < _KINDS_KEPT:
                found = self._summaries.setdefault(key, found)
        return found

    # -- the search ----------------------------------------------------

    def fitting(
        self, rc_id: int, amount: int, scope: set[int] | None = None
    ) -> AbstractSet[int]:
        """The rows with room for ``amount`` of the class ``rc_id``: the
        capacity rule of ``domain/capacity.py`` (min_unit, step_size, and
        at most the stored ``capacity.headroom``), inlined over the
        columns. Without a scope, from the entries kept (see the module's
        docstring): the kept set itself, which the caller must not change.
        Among ``scope``, rows, a new set: a scope of fewer than one in
        ``_SCOPED`` of the providers is checked row by row, a larger one
        intersected with the entry kept, at C speed (checking member_of's
        quarter of 70,000 providers row by row for three classes took 11
        ms of a request's 37)."""
        if scope is not None:
            if len(scope) * _SCOPED < self.live:
                return self._fitting_among(rc_id, amount, scope)
            return scope & self.fitting(rc_id, amount)
        key = (rc_id, amount)
        found = self._fits.get(key)
        if found is None:
            found = self._derived_fits(key)
            if found is None:
                found = frozenset(self._fitting_all(rc_id, amount))
            if len(self._fits) < _FITS_KEPT:
                self._fits[key] = found
        return found

    def _derived_fits(self, key: tuple[int, int]) -> frozenset[int] | None:
        """The entry ``key`` from an earlier version's, its changed rows
        checked again (None when no earlier version has one)."""
        found = self._fits_from.get(key)
        if found is None:
            return None
        earlier, changed = found
        fit = self._fitting_among(*key, changed)
        gone = changed.intersection(earlier).difference(fit)
        joined = fit.difference(earlier)
        # Copied only if it changed (a claim mostly leaves room): the
        # work follows the rows changed, not the class's providers.
        if gone:
            earlier = earlier.difference(gone)
        return earlier.union(joined) if joined else earlier

    def _fitting_all(self, rc_id: int, amount: int) -> set[int]:
        rows = self.by_class.get(rc_id)
        if rows is None:
            return set()
        headroom, min_unit, step = self.headroom, self.min_unit, self.step
        return {
            row
            for row, at in zip(rows, self.at_class[rc_id], strict=False)
            if amount <= headroom[at]
            and min_unit[at] <= amount
            and amount % step[at] == 0
        }

    def _fitting_among(
        self, rc_id: int, amount: int, scope: Iterable[int]
    ) -> set[int]:
        headroom, min_unit, step = self.headroom, self.min_unit, self.step
        inv_at, layout_of = self.inv_at, self.layout_of
        return {
            row
            for row in scope
            if (offset := layout_of[row].get(rc_id)) is not None
            and amount <= headroom[at := inv_at[row] + offset]
            and min_unit[at] <= amount
            and amount % step[at] == 0
        }

    def headrooms(self) -> _Headrooms:
        """(row, class) -> ``Room.headroom``, looked up as needed."""
        return _Headrooms(self)

    def with_trait(self, trait_id: int | None) -> set[int]:
        """Providers holding the trait (none for an unknown one)."""
        if trait_id is None:
            return set()
        return set(self.by_trait.get(trait_id, ()))

    def with_any_trait(self, trait_ids: Iterable[int]) -> set[int]:
        """Providers holding any of ``trait_ids``."""
        found: set[int] = set()
        for trait_id in trait_ids:
            found.update(self.by_trait.get(trait_id, ()))
        return found

    def roots_of(self, rows: AbstractSet[int]) -> AbstractSet[int]:
        """The roots of the trees of ``rows``: ``rows`` itself when every
        provider is a root (the caller must not change the answer)."""
        if not self.nested:
            return rows
        root_of = self.root_of
        return {root_of[row] for row in rows}

    def in_aggregates(self, agg_ids: Iterable[int]) -> set[int]:
        """Providers in any of ``agg_ids``."""
        found: set[int] = set()
        for agg_id in agg_ids:
            found.update(self.by_agg.get(agg_id, ()))
        return found

    def anchors_of(self, row: int) -> set[int]:
        """The roots a sharing provider serves: its own and those of every
        provider sharing one of its aggregates."""
        found = self._anchors.get(row)
        if found is None:
            root_of = self.root_of
            found = {root_of[row]}
            for agg_id in self.aggregates_of[row]:
                found.update(root_of[m] for m in self.by_agg[agg_id])
            self._anchors[row] = found
        return found

    def aggregate_ids(
        self, conn: sa.Connection, uuids: Iterable[str]
    ) -> dict[str, int]:
        """uuid -> id of the known aggregates among ``uuids``."""
        known = self._facts.agg_ids
        missing = [u for u in uuids if u not in known]
        if missing:
            known.update(
                conn.execute(
                    sa.select(AGG.c.uuid, AGG.c.id).where(
                        AGG.c.uuid.in_(missing)
                    )
                ).all()
            )
        return {u: known[u] for u in uuids if u in known}

    def sharing_trait(self, conn: sa.Connection) -> int | None:
        """The id of MISC_SHARES_VIA_AGGREGATE (None while it is unknown)."""
        facts = self._facts
        if facts.sharing_trait is None:
            facts.sharing_trait = traits.ids_for(conn, [SHARING_TRAIT]).get(
                SHARING_TRAIT
            )
        return facts.sharing_trait


class _Renumber(Exception):
    """A new provider's id is below that of a provider held: rows follow
    ids, so everything is loaded again."""


class _Next:
    """The next version, built from ``base`` by copying on first write:
    each column (an ``array`` or a list: one copy of pointers, no object),
    and each index entry a changed provider leaves or joins, rebuilt once
    in ``finish``. A provider keeps its row for life (a deleted one leaves
    its row empty) and its inventory positions while its classes stay the
    same; new providers take new rows at the end (``assemble`` builds a
    version from nothing)."""

    def __init__(self, facts: _Facts, base: Version) -> None:
        self.version = version = Version(facts)
        self.base = base
        self._owned: set[str] = set()
        # (index, key) -> [rows left, rows joined]; by_class joins (row,
        # inventory position) pairs
        self._edits: dict[tuple[str, int], list[Any]] = {}
        # provider id -> row, for rows added here
        self._new_rows: dict[int, int] = {}
        self._changed: list[int] = []  # rows whose cached summaries are stale
        self.placement_changed = False
        self.renamed = False  # a provider's uuid changed (SQL by hand)
        for name in (
            _ROW_COLUMNS
            + _INVENTORY_COLUMNS
            + _INDEXES
            + (
                "id_of",
                "trait_names",
                "rootless",
                "live",
                "nested",
                "waste",
                "rc_names",
                "names_epoch",
                "_anchors",
            )
        ):
            setattr(version, name, getattr(base, name))

    def _own(self, name: str) -> Any:
        """The column (or dict) ``name`` of the next version, ready to
        change."""
        found = getattr(self.version, name)
        if name not in self._owned:
            found = found.copy() if isinstance(found, dict) else found[:]
            setattr(self.version, name, found)
            self._owned.add(name)
        return found

    def _row(self, rp_id: int) -> int | None:
        """The row of the provider ``rp_id`` (None: it has none)."""
        row = self._new_rows.get(rp_id)
        if row is None:
            ids = self.version.ids
            row = bisect.bisect_left(ids, rp_id)
            if row == len(ids) or ids[row] != rp_id:
                return None
        return row

    def _edit(
        self, index: str, key: int, row: int | tuple[int, int], joins: bool
    ) -> None:
        edit = self._edits.get((index, key))
        if edit is None:
            edit = self._edits[(index, key)] = [set(), []]
        if joins:
            edit[1].append(row)
        else:
            edit[0].add(row)

    def allocate(self, rp_ids: Iterable[int]) -> None:
        """Give the providers ``rp_ids`` (ascending) that have none a row."""
        version = self.version
        ids = version.ids
        last = ids[-1] if ids else None
        new = [rp_id for rp_id in rp_ids if self._row(rp_id) is None]
        if not new:
            return
        if last is not None and new[0] < last:
            raise _Renumber()
        start = len(ids)
        count = len(new)
        self._own("ids").extend(new)
        self._own("uuid_of").extend([None] * count)
        self._own("root_of").extend([-1] * count)
        self._own("parent_of").extend([None] * count)
        self._own("traits_of").extend([_NONE] * count)
        self._own("aggregates_of").extend([_NONE] * count)
        self._own("layout_of").extend([_NO_LAYOUT] * count)
        self._own("inv_at").extend([0] * count)
        self._own("name_of").extend([None] * count)
        self._own("generation_of").extend([None] * count)
        self._own("modified_of").extend([clock.NEVER] * count)
        self._new_rows.update(
            zip(new, range(start, start + count), strict=False)
        )

    def put(self, p: Provider, layouts: _Layouts) -> None:
        """File the provider ``p`` (its row allocated) in place of what its
        row held. ``layouts`` interns inventory layouts."""
        version = self.version
        # Allocated: ``p`` and its root have rows.
        row: int = self._row(p.id)  # type: ignore[assignment]
        if version.uuid_of[row] is not None:
            old = _Held(version, row)
            self._take_out(row, old, p)
        else:
            old = None
            version.live += 1
            if p.id not in self._new_rows:
                version.waste -= 1  # an empty row taken again
        self._changed.append(row)
        parent = None if p.parent is None else self._row(p.parent)
        root: int = self._row(p.root)  # type: ignore[assignment]
        if old is None or old.uuid != p.uuid:
            self._own("uuid_of")[row] = p.uuid
            self._own("id_of")[p.uuid] = row
            if old is not None:  # shown in its tree's rendered providers
                self.renamed = True
        self._shown(row, p.name, p.generation, p.modified, p.rootless)
        if old is None or old.parent != parent:
            self._own("parent_of")[row] = parent
            if parent is not None:
                version.nested += 1
        if old is None or old.root != root:
            self._own("root_of")[row] = root
            self._edit("trees", root, row, True)
        if old is None or old.traits != p.traits:
            self._own("traits_of")[row] = p.traits
            for trait_id in p.traits:
                self._edit("by_trait", trait_id, row, True)
            names = version.trait_names
            for trait_id, name in zip(
                sorted(p.traits), p.trait_names, strict=False
            ):
                if names.get(trait_id) != name:
                    self._own("trait_names")[trait_id] = name
        if old is None or old.aggregates != p.aggregates:
            self._own("aggregates_of")[row] = p.aggregates
            for agg_id in p.aggregates:
                self._edit("by_agg", agg_id, row, True)
        if _placement(old) != (_placement_of(root, p.aggregates)):
            self.placement_changed = True
        self._file_inventory(row, old, p.inventory, layouts)

    def _shown(
        self,
        row: int,
        name: str | None,
        generation: int | None,
        modified: int,
        rootless: bool,
    ) -> None:
        """File what the provider list shows of the provider at ``row``."""
        version = self.version
        if version.name_of[row] != name:
            self._own("name_of")[row] = name
        if version.generation_of[row] != generation:
            self._own("generation_of")[row] = generation
        if version.modified_of[row] != modified:
            self._own("modified_of")[row] = modified
        if (row in version.rootless) != rootless:
            version.rootless = version.rootless.symmetric_difference((row,))

    def _file_inventory(
        self,
        row: int,
        old: _Held | None,
        inventory: list[_Inventory],
        layouts: _Layouts,
    ) -> None:
        version = self.version
        layout = _layout(layouts, tuple(rc_id for rc_id, *_rest in inventory))
        if old is not None and old.layout is layout:
            start = version.inv_at[row]
            for at, (
                _rc,
                total,
                reserved,
                ratio,
                used,
                min_unit,
                max_unit,
                step,
            ) in enumerate(inventory, start):
                self._store(
                    at, total, reserved, ratio, used, min_unit, max_unit, step
                )
            return
        if old is not None:
            version.waste += len(old.layout)
        start = len(version.total)
        self._own("layout_of")[row] = layout
        self._own("inv_at")[row] = start
        columns = [self._own(name) for name in _INVENTORY_COLUMNS]
        values: list[Any]  # an ``_Inventory`` but its class id
        for at, (rc_id, *values) in enumerate(inventory, start):
            for column, value in zip(
                columns, _column_values(*values), strict=True
            ):
                column.append(value)
            self._edit("by_class", rc_id, (row, at), True)

    def _store(
        self,
        at: int,
        total: int,
        reserved: int,
        ratio: float,
        used: int,
        min_unit: int,
        max_unit: int,
        step: int,
    ) -> None:
        version = self.version
        values = _column_values(
            total, reserved, ratio, used, min_unit, max_unit, step
        )
        for name, value in zip(_INVENTORY_COLUMNS, values, strict=True):
            if getattr(version, name)[at] != value:
                self._own(name)[at] = value

    def _take_out(self, row: int, old: _Held, new: Provider | None) -> None:
        """Leave the index entries that ``new`` (None: nothing) no longer
        shares with ``old``, what the row held."""
        version = self.version
        root = None if new is None else self._row(new.root)
        parent = (
            None
            if new is None or new.parent is None
            else self._row(new.parent)
        )
        if new is None or old.uuid != new.uuid:
            id_of = self._own("id_of")
            if id_of.get(old.uuid) == row:
                del id_of[old.uuid]
        if (new is None or old.parent != parent) and old.parent is not None:
            version.nested -= 1
        if new is None or old.root != root:
            self._edit("trees", old.root, row, False)
        if new is None or old.traits != new.traits:
            for trait_id in old.traits:
                self._edit("by_trait", trait_id, row, False)
        if new is None or old.aggregates != new.aggregates:
            for agg_id in old.aggregates:
                self._edit("by_agg", agg_id, row, False)
        classes = (
            None
            if new is None
            else tuple(rc_id for rc_id, *_rest in new.inventory)
        )
        if classes is None or tuple(old.layout) != classes:
            for rc_id in old.layout:
                self._edit("by_class", rc_id, row, False)

    def drop(self, rp_id: int) -> None:
        """Take the provider ``rp_id`` out, if held: its row stays, empty."""
        version = self.version
        row = self._row(rp_id)
        if row is None or version.uuid_of[row] is None:
            return
        old = _Held(version, row)
        self._take_out(row, old, None)
        if _placement(old) is not None:
            self.placement_changed = True
        self._changed.append(row)
        version.live -= 1
        version.waste += 1 + len(old.layout)
        self._own("uuid_of")[row] = None
        self._own("root_of")[row] = -1
        self._own("parent_of")[row] = None
        self._own("traits_of")[row] = _NONE
        self._own("aggregates_of")[row] = _NONE
        self._own("layout_of")[row] = _NO_LAYOUT
        self._shown(row, None, None, clock.NEVER, False)

    def finish(self) -> Version:
        """The next version, its indexes brought up to date."""
        version = self.version
        base = self.base
        owned: set[str] = set()
        for (index, key), (left, joined) in self._edits.items():
            if index == "by_class":
                self._finish_class(key, left, joined, owned)
                continue
            entries = getattr(version, index)
            if index not in owned:
                entries = dict(entries)
                setattr(version, index, entries)
                owned.add(index)
            held = entries.get(key)
            if (
                held is None
                and index == "trees"
                and (
                    key < len(base.uuid_of)
                    and base.uuid_of[key] is not None
                    and base.root_of[key] == key
                )
            ):
                held = (key,)  # a one-provider tree, held implicitly
            members = [r for r in held or () if r not in left]
            members.extend(joined)
            if len(members) > (1 if index == "trees" else 0):
                entries[key] = members
            else:
                entries.pop(key, None)
        version._summaries = self._summaries(base._summaries)
        version._fits_from = self._fits_from(base)
        if self.placement_changed:
            version._anchors = {}
        return version

    def _fits_from(self, base: Version) -> _FitsFrom:
        """What the next version derives its rows with room from, per key:
        the base's entry, or else the earlier one the base could have
        derived it from, with the rows changed since (none once too many
        changed). A key asked of the base takes the place of the one it
        was derived from, so each entry asked of any version stays
        derivable however the kinds of requests alternate."""
        changed = frozenset(self._changed)
        if len(changed) > _FITS_DERIVE_ROWS:
            return {}
        # (requests may add entries to the base meanwhile: a copy)
        source: _FitsFrom = {
            key: (fits, changed) for key, fits in list(base._fits.items())
        }
        widened: dict[int, frozenset[int]] = {}  # id(rows) -> with changed
        for key, (fits, earlier) in base._fits_from.items():
            if len(source) >= _FITS_KEPT:
                break
            if key in source:
                continue
            rows = widened.get(id(earlier))
            if rows is None:
                rows = widened[id(earlier)] = earlier | changed
            if len(rows) <= _FITS_DERIVE_ROWS:
                source[key] = (fits, rows)
        return source

    def _summaries(
        self, cached: dict[Hashable, list[bytes | None]]
    ) -> dict[Hashable, list[bytes | None]]:
        """The base's summaries cache without the changed rows' (shared
        while no row changed)."""
        stale = self._changed
        count = len(self.version.ids)
        if self.renamed:  # other rows show its uuid as parent or root
            return {}
        if not stale and count == len(self.base.ids):
            return cached
        summaries: dict[Hashable, list[bytes | None]] = {}
        for key, fragments in list(cached.items()):  # requests add keys
            fragments = fragments[:]
            fragments.extend([None] * (count - len(fragments)))
            for row in stale:
                fragments[row] = None
            summaries[key] = fragments
        return summaries

    def _finish_class(
        self,
        rc_id: int,
        left: set[int],
        joined: list[tuple[int, int]],
        owned: set[str],
    ) -> None:
        version = self.version
        for index in ("by_class", "at_class"):
            if index not in owned:
                setattr(version, index, dict(getattr(version, index)))
                owned.add(index)
        rows = version.by_class.get(rc_id, ())
        at = version.at_class.get(rc_id, ())
        if left:
            kept = [
                (r, a) for r, a in zip(rows, at, strict=False) if r not in left
            ]
            rows = [r for r, _a in kept]
            at = array("q", [a for _r, a in kept])
        else:
            rows, at = list(rows), array("q", at)
        rows.extend([r for r, _a in joined])
        at.extend([a for _r, a in joined])
        if rows:
            version.by_class[rc_id] = rows
            version.at_class[rc_id] = at
        else:
            version.by_class.pop(rc_id, None)
            version.at_class.pop(rc_id, None)

    def wasteful(self) -> bool:
        """Whether more than half the rows and positions are unused (then
        a full load packs them)."""
        version = self.version
        slots = len(version.ids) + len(version.total)
        return version.waste > slots // 2 + _WASTE_SLACK


class _Held:
    """What a row of a version holds (the provider being replaced)."""

    __slots__ = ("aggregates", "layout", "parent", "root", "traits", "uuid")

    def __init__(self, version: Version, row: int) -> None:
        self.uuid = version.uuid_of[row]
        self.parent = version.parent_of[row]
        self.root = version.root_of[row]
        self.traits = version.traits_of[row]
        self.aggregates = version.aggregates_of[row]
        self.layout = version.layout_of[row]


class Snapshot:
    """The current version of one database's providers, and how it is
    brought up to date (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.current: Version | None = None
        self._facts = _Facts()
        self._shared: _Shared = {}
        self._layouts: _Layouts = {}
        self._refresh_lock = threading.Lock()
        self._full = True  # the next refresh loads everything
        self._loading = False  # the maintenance thread is still loading
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loads = {"full": 0, "partial": 0}
        self.failures = 0
        self.drift_repairs = 0
        self.check_interval = 0
        self._published: dict[str, object] = {}  # counters() last exported

    # -- serving -------------------------------------------------------

    def version(self, conn: sa.Connection | None = None) -> Version:
        """The current version, brought up to every change committed
        before this call. Raises ``Unavailable`` when that cannot be done
        now. With ``conn``, a consistent read (``Database.read``) that has
        run no statement yet, the refresh reads through it: the caller's
        further reads then see the database as of the version it got."""
        if self.current is None and self._loading:
            raise Unavailable("the provider snapshot is still loading")
        return self._update(conn)

    def if_current(self, conn: sa.Connection) -> Version | None:
        """The current version if it holds every change committed before
        ``conn`` (any read, a plain one included) reads the log's head
        now; else None (the caller then asks ``version``). One statement,
        no refresh and no lock: a version at the head is the database as
        of that statement, since change numbers are handed out in commit
        order (the head row is locked until its writer commits).
        ``Unavailable`` when the head cannot be read. None too while the
        next refresh is to load everything (a refresh failed, or the drift
        check found the version differing from the database)."""
        held = self.current  # (first: a refresh may swap in a newer one)
        if held is None or self._full:
            return None
        try:
            head = changes.head(conn)
        except sa_exc.DBAPIError as exc:
            raise Unavailable("the database cannot be reached") from exc
        return held if head == held.seq else None

    def _update(self, conn: sa.Connection | None = None) -> Version:
        with self._refresh_lock:
            try:
                if conn is not None:
                    self.refresh(conn)
                else:
                    with self.db.read(consistent=True) as own:
                        self.refresh(own)
            except sa_exc.DBAPIError as exc:
                raise Unavailable("the database cannot be reached") from exc
        return self.current  # type: ignore[return-value]  # just refreshed

    def refresh(self, conn: sa.Connection) -> Version:
        """Bring the snapshot up to the log's head as seen by ``conn`` (a
        consistent read); publish the new version. Callers serialise
        refreshes (``version`` holds the refresh lock). Any error leaves
        the current version as it was and makes the next refresh load
        everything."""
        base = self.current
        try:
            seq, changed = changes.since(
                conn, None if self._full or base is None else base.seq
            )
            if (
                changed == {}
                and base is not None
                and base.rc_names
                == resource_classes.names_for(conn, base.by_class)
            ):
                return base  # nothing new: the same version, caches and all
            version = None
            if (
                changed is not changes.EVERYTHING
                and len(changed) <= _RELOAD_ALL_ABOVE
            ):
                # (changes since no version are EVERYTHING: base is set)
                version = self._reload(conn, base, changed)  # type: ignore[arg-type]
            if version is None:
                version = self._load_all(conn)
                self.loads["full"] += 1
            elif changed:
                self.loads["partial"] += 1
            self._name_classes(conn, version, base)
        except BaseException:
            self._full = True
            self.failures += 1
            self._publish()
            raise
        version.seq = seq
        self.current = version
        self._full = False
        self._publish()
        return version

    def _publish(self) -> None:
        self._published = metrics.snapshot(self.counters(), self._published)

    def _load_all(self, conn: sa.Connection) -> Version:
        self._shared = {}
        self._layouts = {}
        return assemble(
            _load(conn, None), self._facts, self._shared, self._layouts
        )

    def _reload(
        self, conn: sa.Connection, base: Version, changed: dict[int, bool]
    ) -> Version | None:
        """The next version with the providers ``changed`` reloaded (those
        of which only the usage changed, and that ``base`` holds: their
        row and usage only), or None when a full load is due instead (rows
        out of id order, or more than half of them wasted)."""
        nxt = _Next(self._facts, base)
        if changed:
            if len(self._shared) > 2 * base.live + _SHARED_SLACK:
                self._shared = {}  # mostly sets no provider holds by now
            ids = sorted(changed)
            whole: list[int] = []
            usage: list[int] = []
            for i in ids:
                held = changed[i] and base.row_of(i) is not None
                (usage if held else whole).append(i)
            loaded: dict[int, Provider] = {}
            for start in range(0, len(whole), _CHUNK):
                chunk = whole[start : start + _CHUNK]
                loaded.update(_load(conn, chunk).providers_by_id(self._shared))
            for start in range(0, len(usage), _CHUNK):
                chunk = usage[start : start + _CHUNK]
                loaded.update(_load_usage(conn, chunk, base))
            try:
                nxt.allocate(sorted(loaded))
            except _Renumber:
                return None
            for rp_id in ids:
                new = loaded.get(rp_id)
                if new is None:
                    nxt.drop(rp_id)
                else:
                    nxt.put(new, self._layouts)
            if nxt.wasteful():
                return None
        return nxt.finish()

    def _name_classes(
        self, conn: sa.Connection, version: Version, base: Version | None
    ) -> None:
        names = resource_classes.names_for(conn, version.by_class)
        if base is not None and names == base.rc_names:
            version.rc_names = base.rc_names
            version.names_epoch = base.names_epoch
        else:
            version.rc_names = names
            version.names_epoch = 0 if base is None else base.names_epoch + 1
            version._summaries = {}  # keyed by the old epoch

    # -- maintenance ---------------------------------------------------

    def start(self, check_interval: int = 0) -> None:
        """Load now (a worker starting), then keep a maintenance thread
        that retries a failed load and checks for drift every
        ``check_interval`` seconds (0: never)."""
        if self._thread is not None:
            return
        self.check_interval = check_interval
        try:
            self.version()
        except Unavailable as exc:
            LOG.warning(
                "provider snapshot not loaded at start (%s); "
                "candidates answer 503 until it is",
                exc.__cause__,
            )
            self._loading = True
        if self._loading or check_interval > 0:
            self._thread = threading.Thread(
                target=_maintain,
                args=(weakref.ref(self), self._stop),
                name="allotment-snapshot",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """End the maintenance thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def check(self) -> list[str]:
        """Compare the snapshot with the database; on a difference, log
        what differed, reload everything and answer the differences."""
        with self._refresh_lock, self.db.read(consistent=True) as conn:
            version = self.refresh(conn)
            stored = fingerprint.of_database(conn)
        held = fingerprint.of_version(version)
        differences = fingerprint.compare(held, stored)
        if differences:
            LOG.warning(
                "provider snapshot differed from the database "
                "(%s): reloading everything (a write that bypassed "
                "the change log?)",
                "; ".join(differences),
            )
            self.drift_repairs += 1
            self._full = True
            self._update()
        return differences

    def periodic_checks(self) -> None:
        """The maintenance thread's round: this worker's drift check
        (``check``), then the project usage totals check
        (``usage_totals.check``) if this worker claims it for the whole
        deployment: it reads only the shared database, so one worker of
        all hosts runs it per ``check_interval`` (``storage/periodic.py``).
        Logs what fails; never raises."""
        try:
            self.check()
        except Exception:
            LOG.warning("provider snapshot check failed", exc_info=True)
        try:
            if periodic.claim(
                self.db, usage_totals.CHECK_TASK, self.check_interval
            ):
                usage_totals.check(self.db)
        except Exception:
            LOG.warning("usage totals check failed", exc_info=True)

    def counters(self) -> dict[str, object]:
        """Figures for the metrics: the current version's age in seconds,
        providers held, loads by kind, failed refreshes, drift repairs."""
        version = self.current
        return {
            "loaded": version is not None,
            "age_seconds": (
                None
                if version is None
                else time.monotonic() - version.built_at
            ),
            "providers": 0 if version is None else version.live,
            "seq": None if version is None else version.seq,
            "full_loads": self.loads["full"],
            "partial_loads": self.loads["partial"],
            "failures": self.failures,
            "drift_repairs": self.drift_repairs,
        }


def _column_values(
    total: int,
    reserved: int,
    ratio: float,
    used: int,
    min_unit: int,
    max_unit: int,
    step: int,
) -> tuple[int, int, float, int, int, int, int, int]:
    """One inventory's values in the order of ``_INVENTORY_COLUMNS``, its
    headroom included (``domain/capacity.py``)."""
    headroom = capacity.headroom(
        capacity.capacity(total, reserved, ratio), used, max_unit
    )
    return (total, reserved, ratio, min_unit, max_unit, step, used, headroom)


def assemble(
    loaded: Loaded,
    facts: _Facts | None = None,
    shared: _Shared | None = None,
    layouts: _Layouts | None = None,
) -> Version:
    """A version holding just what ``loaded`` (``Loaded``, everything)
    read, built column by column. ``shared`` and ``layouts`` intern trait
    and aggregate sets and inventory layouts."""
    same = ({} if shared is None else shared).setdefault
    layouts = {} if layouts is None else layouts
    version = Version(facts or _Facts())
    providers = loaded.providers
    count = len(providers)
    version.ids = ids = array("q", [p[0] for p in providers])
    row_of = dict(
        zip(ids, range(count), strict=False)
    )  # one int object per row, shared
    version.uuid_of = uuids = [p[1] for p in providers]
    version.id_of = dict(zip(uuids, row_of.values(), strict=False))
    version.parent_of = parent_of = [
        None if p[2] is None else row_of[p[2]] for p in providers
    ]
    version.root_of = root_of = [row_of[p[3]] for p in providers]
    version.name_of = [p[4] for p in providers]
    version.generation_of = [p[5] for p in providers]
    version.modified_of = array("q", [p[6] for p in providers])
    version.rootless = frozenset(
        row for row, p in enumerate(providers) if p[7]
    )
    version.live = count
    version.nested = count - parent_of.count(None)
    trees: dict[int, list[int]] = {}
    for row, root in enumerate(root_of):
        if root != row:
            trees.setdefault(root, [root]).append(row)
    version.trees = trees
    _assemble_inventory(version, loaded, row_of, layouts)
    version.trait_names = dict(loaded.trait_names)
    version.traits_of, version.by_trait = _assemble_sets(
        loaded.traits, row_of, count, same
    )
    version.aggregates_of, version.by_agg = _assemble_sets(
        loaded.aggregates, row_of, count, same
    )
    return version


def _assemble_inventory(
    version: Version, loaded: Loaded, row_of: dict[int, int], layouts: _Layouts
) -> None:
    inventories = loaded.inventories
    rps, rcs, totals, reserveds, ratios, min_units, max_units, steps = (
        [r[i] for r in inventories] for i in range(8)
    )
    classes_at = tuple(rcs)
    used = loaded.used
    version.total = array("q", totals)
    version.reserved = array("q", reserveds)
    version.ratio = array("d", ratios)
    version.min_unit = array("q", min_units)
    version.max_unit = array("q", max_units)
    version.step = array("q", steps)
    version.used = useds = array(
        "q", [used.get(key, 0) for key in zip(rps, classes_at, strict=False)]
    )
    capacity_of, headroom = capacity.capacity, capacity.headroom
    version.headroom = array(
        "q",
        [
            headroom(capacity_of(total, reserved, ratio), u, max_unit)
            for total, reserved, ratio, max_unit, u in zip(
                totals, reserveds, ratios, max_units, useds, strict=False
            )
        ],
    )
    count = len(version.ids)
    version.inv_at = inv_at = array("q", [0]) * count
    version.layout_of = layout_of = [_NO_LAYOUT] * count
    # Each provider's inventories are consecutive: one step per provider.
    starts = [0] if rps else []
    starts.extend(
        at
        for at, before, rp_id in zip(itertools.count(1), rps, rps[1:])
        if rp_id != before
    )
    by_layout: dict[
        tuple[int, ...], tuple[list[int], list[int]]
    ] = {}  # classes -> (rows, starts)
    for start, end in zip(starts, [*starts[1:], len(rps)], strict=False):
        row = row_of[rps[start]]
        inv_at[row] = start
        classes = classes_at[start:end]
        found = by_layout.get(classes)
        if found is None:
            found = by_layout[classes] = ([], [])
        layout_of[row] = _layout(layouts, classes)
        found[0].append(row)
        found[1].append(start)
    by_class: dict[int, list[int]] = {}
    at_class: dict[int, array[int]] = {}
    version.by_class, version.at_class = by_class, at_class
    for classes, (rows, firsts) in by_layout.items():
        for offset, rc_id in enumerate(classes):
            if rc_id not in by_class:
                by_class[rc_id] = []
                at_class[rc_id] = array("q")
            by_class[rc_id].extend(rows)
            at_class[rc_id].extend([start + offset for start in firsts])


def _assemble_sets(
    pairs: _Rows,
    row_of: dict[int, int],
    count: int,
    same: Callable[[frozenset[int], frozenset[int]], frozenset[int]],
) -> tuple[list[frozenset[int]], dict[int, list[int]]]:
    """(row -> interned frozenset, key -> rows) from (provider id, key)
    pairs ordered by provider."""
    sets = [_NONE] * count
    rows_of_set: dict[
        tuple[int, ...], tuple[frozenset[int], list[int]]
    ] = {}  # keys -> (interned frozenset, rows)
    second = operator.itemgetter(1)
    for rp_id, group in itertools.groupby(pairs, operator.itemgetter(0)):
        keys = tuple(map(second, group))
        found = rows_of_set.get(keys)
        if found is None:
            held = frozenset(keys)
            found = rows_of_set[keys] = (same(held, held), [])
        row = row_of[rp_id]
        sets[row] = found[0]
        found[1].append(row)
    index: dict[int, list[int]] = {}
    for held, rows in rows_of_set.values():
        for key in held:
            listed = index.get(key)
            if listed is None:
                index[key] = list(rows)
            else:
                listed.extend(rows)
    return sets, index


def _layout(layouts: _Layouts, classes: tuple[int, ...]) -> dict[int, int]:
    """The interned layout of inventories of ``classes``: class id ->
    offset."""
    found = layouts.get(classes)
    if found is None:
        found = layouts[classes] = {
            rc_id: offset for offset, rc_id in enumerate(classes)
        }
    return found


def _maintain(ref: weakref.ref[Snapshot], stop: threading.Event) -> None:
    """The maintenance thread: while the snapshot is not loaded, try again
    every RETRY_SECONDS; then run ``periodic_checks`` every
    ``check_interval`` seconds (if any). Ends on ``stop`` or when the
    snapshot is gone."""
    while True:
        snap = ref()
        if snap is None:
            return
        loading = snap._loading
        wait = RETRY_SECONDS if loading else snap.check_interval
        del snap
        if wait <= 0 or stop.wait(wait):
            return
        snap = ref()
        if snap is None:
            return
        if loading:
            try:
                snap._update()
                snap._loading = False
                LOG.info("provider snapshot loaded")
            except Unavailable:
                pass
        else:
            snap.periodic_checks()
        del snap


class _Headrooms:
    """The ``headroom`` mapping of a search problem, read from the columns."""

    __slots__ = ("headroom", "inv_at", "layout_of")

    def __init__(self, version: Version) -> None:
        self.layout_of = version.layout_of
        self.inv_at = version.inv_at
        self.headroom = version.headroom

    @overload
    def get(self, key: tuple[int, int]) -> int | None: ...
    @overload
    def get(self, key: tuple[int, int], default: _T) -> int | _T: ...
    def get(
        self, key: tuple[int, int], default: _T | None = None
    ) -> int | _T | None:
        row, rc_id = key
        offset = self.layout_of[row].get(rc_id)
        if offset is None:
            return default
        return self.headroom[self.inv_at[row] + offset]


def _placement(
    held: _Held | None,
) -> tuple[int, frozenset[int]] | None:
    """What the anchors of sharing providers depend on."""
    if held is None:
        return None
    return _placement_of(held.root, held.aggregates)


def _placement_of(
    root: int, aggregates: frozenset[int]
) -> tuple[int, frozenset[int]] | None:
    return (root, aggregates) if aggregates else None


def _query(conn: sa.Connection, sel: sa.Select[Any]) -> _Rows:
    """The rows of ``sel``, a query about every provider, as the driver
    returns them: plain tuples, no per-row processing."""
    sql = str(sel.compile(dialect=conn.dialect))
    result = conn.exec_driver_sql(sql)
    dbapi = conn.dialect.loaded_dbapi
    try:
        return result.cursor.fetchall()
    except dbapi.Error as exc:
        raise sa_exc.DBAPIError.instance(sql, None, exc, dbapi.Error) from exc
    finally:
        result.close()


class Loaded:
    """What ``_load`` read, each as the driver's rows but ``providers``:
    (id, uuid, parent id, root id, name, generation, modified, rootless) by
    id (see ``Provider``); ``inventories`` (provider, class,
    total, reserved, allocation ratio, min_unit, max_unit, step_size) by
    provider and class; ``used``: (provider, class) -> used; ``traits``
    and ``aggregates``: (provider, id) by provider; ``trait_names``: trait
    id -> name."""

    def __init__(
        self,
        providers: _Rows,
        inventories: _Rows,
        used: dict[tuple[int, int], int],
        traits: _Rows,
        trait_names: dict[int, str],
        aggregates: _Rows,
    ) -> None:
        self.providers = providers
        self.inventories = inventories
        self.used = used
        self.traits = traits
        self.trait_names = trait_names
        self.aggregates = aggregates

    def providers_by_id(self, shared: _Shared) -> dict[int, Provider]:
        """id -> ``Provider`` record (equal sets stored once: ``shared``
        maps each value to its first copy)."""
        same = shared.setdefault
        found = {p[0]: Provider(*p) for p in self.providers}
        used = self.used
        for rp_id, rc_id, *rest in self.inventories:
            total, reserved, ratio, min_unit, max_unit, step = rest
            found[rp_id].inventory.append(
                (
                    rc_id,
                    total,
                    reserved,
                    ratio,
                    used.get((rp_id, rc_id), 0),
                    min_unit,
                    max_unit,
                    step,
                )
            )
        names = self.trait_names
        for rp_id, group in itertools.groupby(
            self.traits, operator.itemgetter(0)
        ):
            held = tuple(t for _rp, t in group)
            provider = found[rp_id]
            traits_held = frozenset(held)
            provider.traits = same(traits_held, traits_held)
            provider.trait_names = tuple(names[t] for t in held)
        for rp_id, group in itertools.groupby(
            self.aggregates, operator.itemgetter(0)
        ):
            aggs_held = frozenset(a for _rp, a in group)
            found[rp_id].aggregates = same(aggs_held, aggs_held)
        return found


def _providers(
    conn: sa.Connection, found: Iterable[Any], raw: bool
) -> list[tuple[Any, ...]]:
    """The provider rows of ``Loaded`` from those of the query (``raw``:
    as the driver returns them, time stamps as text on SQLite)."""
    parse = (
        sa.DateTime()
        .dialect_impl(conn.dialect)
        .result_processor(conn.dialect, None)
        if raw
        else None
    )
    modified = clock.modified
    providers = []
    for rp_id, uuid, parent, root, name, generation, created, updated in found:
        if parse is not None:
            created, updated = parse(created), parse(updated)
        providers.append(
            (
                rp_id,
                uuid,
                parent,
                # a provider without a root (before the online data
                # migrations) is its own root, as set_root_provider_ids
                # makes it
                rp_id if root is None else root,
                name,
                generation,
                modified(created, updated),
                root is None,
            )
        )
    return providers


class _Query:
    """One of ``_load``'s queries, built once: about every provider
    (``all``), and about those of the list bound as ``ids`` (``some``):
    a refresh after a claim runs five of these for one provider, and
    building and compiling each anew cost more than running it."""

    def __init__(self, column: sa.Column[Any], sel: sa.Select[Any]) -> None:
        self.all = sel
        self.some = sel.where(column.in_(sa.bindparam("ids", expanding=True)))

    def rows(self, conn: sa.Connection, ids: list[int] | None) -> _Rows:
        """The rows about the providers ``ids`` (None: all)."""
        if ids is None:
            return _query(conn, self.all)
        return conn.execute(self.some, {"ids": ids}).all()


_a, _i, _t = ALLOC.c, INV.c, RPT.c
_PROVIDERS = _Query(
    RP.c.id,
    sa.select(
        RP.c.id,
        RP.c.uuid,
        RP.c.parent_provider_id,
        RP.c.root_provider_id,
        RP.c.name,
        RP.c.generation,
        RP.c.created_at,
        RP.c.updated_at,
    ).order_by(RP.c.id),
)
_USED = _Query(
    _a.resource_provider_id,
    sa.select(
        _a.resource_provider_id, _a.resource_class_id, sa.func.sum(_a.used)
    ).group_by(_a.resource_provider_id, _a.resource_class_id),
)
_INVENTORIES = _Query(
    _i.resource_provider_id,
    sa.select(
        _i.resource_provider_id,
        _i.resource_class_id,
        _i.total,
        _i.reserved,
        _i.allocation_ratio,
        _i.min_unit,
        _i.max_unit,
        _i.step_size,
    ).order_by(_i.resource_provider_id, _i.resource_class_id),
)
# All traits: names apart (a few traits, held by many providers); some:
# with their names.
_TRAITS = _Query(
    _t.resource_provider_id,
    sa.select(_t.resource_provider_id, _t.trait_id).order_by(
        _t.resource_provider_id, _t.trait_id
    ),
)
_TRAIT_NAMES = sa.select(TRAITS.c.id, TRAITS.c.name).where(
    TRAITS.c.id.in_(sa.select(_t.trait_id).distinct())
)
_NAMED_TRAITS = _Query(
    _t.resource_provider_id,
    sa.select(_t.resource_provider_id, _t.trait_id, TRAITS.c.name)
    .select_from(RPT.join(TRAITS, TRAITS.c.id == _t.trait_id))
    .order_by(_t.resource_provider_id, _t.trait_id),
)
_AGGREGATES = _Query(
    RPA.c.resource_provider_id,
    sa.select(RPA.c.resource_provider_id, RPA.c.aggregate_id).order_by(
        RPA.c.resource_provider_id, RPA.c.aggregate_id
    ),
)


def _used(
    conn: sa.Connection, ids: list[int] | None
) -> dict[tuple[int, int], int]:
    """(provider id, class id) -> used, of the providers ``ids`` (None:
    all)."""
    sums = _USED.rows(conn, ids)
    return dict(
        zip(
            map(operator.itemgetter(0, 1), sums),
            map(int, map(operator.itemgetter(2), sums)),
            strict=False,
        )
    )


def _load(conn: sa.Connection, ids: list[int] | None) -> Loaded:
    """A ``Loaded`` of the providers ``ids`` (None: all); five queries,
    six for all."""
    providers = _providers(conn, _PROVIDERS.rows(conn, ids), ids is None)
    if not providers:
        return Loaded([], [], {}, [], {}, [])
    used = _used(conn, ids)
    inventories = _INVENTORIES.rows(conn, ids)
    if ids is None:
        trait_pairs = _TRAITS.rows(conn, None)
        trait_names = dict(_query(conn, _TRAIT_NAMES))
    else:
        named = _NAMED_TRAITS.rows(conn, ids)
        trait_pairs = [(rp_id, trait_id) for rp_id, trait_id, _n in named]
        trait_names = {trait_id: name for _rp, trait_id, name in named}
    agg_pairs = _AGGREGATES.rows(conn, ids)
    return Loaded(
        providers, inventories, used, trait_pairs, trait_names, agg_pairs
    )


def _load_usage(
    conn: sa.Connection, ids: list[int], base: Version
) -> dict[int, Provider]:
    """id -> ``Provider`` of the providers ``ids``, all held by ``base``,
    of which only the usage changed (``changes.since``): their rows and
    usage read again (two queries), their inventories, traits and
    aggregates as ``base`` holds them. A provider no longer there is left
    out."""
    used = _used(conn, ids)
    names = base.trait_names
    found = {}
    for values in _providers(conn, _PROVIDERS.rows(conn, ids), False):
        p = found[values[0]] = Provider(*values)
        row: int = base.row_of(p.id)  # type: ignore[assignment]  # held
        p.inventory = [
            (
                rc_id,
                base.total[at],
                base.reserved[at],
                base.ratio[at],
                used.get((p.id, rc_id), 0),
                base.min_unit[at],
                base.max_unit[at],
                base.step[at],
            )
            for rc_id, at in base.positions(row)
        ]
        p.traits = base.traits_of[row]
        p.trait_names = tuple(names[t] for t in sorted(p.traits))
        p.aggregates = base.aggregates_of[row]
    return found


_SNAPSHOTS: weakref.WeakKeyDictionary[object, Snapshot] = (
    weakref.WeakKeyDictionary()
)
_SNAPSHOTS_LOCK = threading.Lock()


def for_database(db: Database) -> Snapshot:
    """The process-wide snapshot of the database ``db``."""
    with _SNAPSHOTS_LOCK:
        snap = _SNAPSHOTS.get(db)
        if snap is None:
            snap = _SNAPSHOTS[db] = Snapshot(db)
        return snap
