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
  (a few ``IN (...)`` queries) and builds the next version by copying just
  the indexes they touch (``_Next``); or it loads everything, on first use
  and whenever the log says so (an "everything" entry, pruned entries, a
  re-created log). Only one thread refreshes at a time; the others wait
  for it, never for a reader.
- A load either completes or leaves nothing behind: the next version is
  published only once fully built, together with its change number. After
  any error the next refresh loads everything again.
- ``start`` loads the snapshot when the worker starts (before it takes
  requests) and keeps a maintenance thread: it retries the load while the
  database cannot be reached (requests meanwhile get ``Unavailable``, a
  503) and, every ``check_interval`` seconds, compares a fingerprint of the
  snapshot with the database (``candidates/fingerprint.py``) and reloads
  when they differ, naming what differed (writes made with SQL by hand).
- ``counters()`` reports the version's age, providers held, loads and
  drift repairs for the metrics.

A version's indexes:

- ``by_class``: class id -> {provider id -> ``Room``} for providers with an
  inventory of that class;
- ``by_trait`` and ``by_agg``: trait / aggregate id -> provider ids;
- ``members``: root id -> provider ids of the tree; ``uuid_of``,
  ``root_of``, ``parent_of``, ``traits_of`` and ``id_of`` (uuid -> id);
- the roots each sharing provider is anchored to through its aggregates,
  computed on demand and dropped when aggregate membership or trees change;
- ``rc_names``: the name of every class held; a renamed custom class moves
  ``names_epoch``, which keys the cached summaries.
"""

import gc
import logging
import threading
import time
import weakref

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from allotment.candidates import fingerprint
from allotment.domain import resource_classes
from allotment.domain import traits
from allotment.storage import changes
from allotment.storage import tables

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
_RELOAD_ALL_ABOVE = 5000  # changed providers beyond which a full load is cheaper
_FREEZE_FROM = 1000  # providers from which a full load is frozen out of GC
_SHARED_SLACK = 1000
RETRY_SECONDS = 2.0  # between load attempts while the database is away


class Unavailable(Exception):
    """The snapshot cannot be brought up to date now (database away, or
    the first load still running); the request should be retried."""


class Room:
    """One inventory of a provider with its usage. ``capacity`` is
    (total - reserved) * allocation_ratio; ``limit`` is the most one request
    may still take (capacity left, capped by max_unit): an amount fits when
    min_unit <= amount <= limit and amount is a multiple of step."""

    __slots__ = ("total", "reserved", "ratio", "capacity", "used",
                 "min_unit", "max_unit", "step", "limit")

    def __init__(self, total, reserved, ratio, used, min_unit, max_unit,
                 step):
        self.total = total
        self.reserved = reserved
        self.ratio = ratio
        self.capacity = (total - reserved) * ratio
        self.used = used
        self.min_unit = min_unit
        self.max_unit = max_unit
        self.step = step
        self.limit = min(int(self.capacity) - used, max_unit)


class Provider:
    """One provider as last loaded; replaced, never modified, on change
    (``fragments`` caches its rendered summaries)."""

    __slots__ = ("id", "uuid", "parent", "root", "inventory", "traits",
                 "trait_names", "aggregates", "fragments")

    def __init__(self, rp_id, uuid, parent, root):
        self.id = rp_id
        self.uuid = uuid
        self.parent = parent
        self.root = root
        self.inventory = {}
        self.traits = frozenset()
        self.trait_names = ()
        self.aggregates = frozenset()
        self.fragments = {}


class _Facts:
    """What never changes once known, shared by every version: aggregate
    uuid -> id (an aggregate's id never changes and its row is never
    deleted) and the id of MISC_SHARES_VIA_AGGREGATE (a standard trait)."""

    def __init__(self):
        self.agg_ids = {}
        self.sharing_trait = None


_INDEXES = ("providers", "by_class", "by_trait", "by_agg", "members",
            "uuid_of", "id_of", "root_of", "parent_of", "traits_of")


class Version:
    """Every provider of one database as of change number ``seq``, with the
    indexes described above. Never modified once published (only the
    anchors cache fills in)."""

    def __init__(self, facts):
        for name in _INDEXES:
            setattr(self, name, {})
        self.nested = 0  # providers with a parent
        self.rc_names = {}
        self.names_epoch = 0
        self.seq = None
        self.built_at = time.monotonic()
        self._facts = facts
        self._anchors = {}

    def anchors_of(self, rp_id):
        """The roots a sharing provider serves: its own and those of every
        provider sharing one of its aggregates."""
        found = self._anchors.get(rp_id)
        if found is None:
            root_of = self.root_of
            found = {root_of[rp_id]}
            for agg_id in self.providers[rp_id].aggregates:
                found.update(root_of[m] for m in self.by_agg[agg_id])
            self._anchors[rp_id] = found
        return found

    def aggregate_ids(self, conn, uuids):
        """uuid -> id of the known aggregates among ``uuids``."""
        known = self._facts.agg_ids
        missing = [u for u in uuids if u not in known]
        if missing:
            known.update(conn.execute(sa.select(AGG.c.uuid, AGG.c.id).where(
                AGG.c.uuid.in_(missing))).all())
        return {u: known[u] for u in uuids if u in known}

    def limits(self):
        """(provider, class) -> ``Room.limit``, looked up as needed."""
        return _Limits(self.by_class)

    def sharing_trait(self, conn):
        """The id of MISC_SHARES_VIA_AGGREGATE (None while it is unknown)."""
        facts = self._facts
        if facts.sharing_trait is None:
            facts.sharing_trait = traits.ids_for(
                conn, [SHARING_TRAIT]).get(SHARING_TRAIT)
        return facts.sharing_trait

    def with_trait(self, trait_id):
        return self.by_trait.get(trait_id, set())

    def in_aggregates(self, agg_ids):
        """Providers in any of ``agg_ids``."""
        found = set()
        for agg_id in agg_ids:
            found |= self.by_agg.get(agg_id, set())
        return found


class _Next:
    """The next version, built from ``base`` by copying on first write:
    each index dict, and each set or dict inside one, is copied once, the
    first time a changed provider touches it. Without ``base`` everything
    starts empty and is owned."""

    def __init__(self, facts, base=None):
        self.version = version = Version(facts)
        self._owned = None if base is None else set()
        if base is not None:
            for name in _INDEXES:
                setattr(version, name, getattr(base, name))
            version.nested = base.nested
            version.rc_names = base.rc_names
            version.names_epoch = base.names_epoch
            version._anchors = base._anchors

    def index(self, name):
        """The index ``name`` of the next version, ready to change."""
        found = getattr(self.version, name)
        owned = self._owned
        if owned is not None and name not in owned:
            found = dict(found)
            setattr(self.version, name, found)
            owned.add(name)
        return found

    def entry(self, name, key, factory):
        """``index(name)[key]`` ready to change (created when missing)."""
        outer = self.index(name)
        found = outer.get(key)
        owned = self._owned
        if found is None:
            found = outer[key] = factory()
            if owned is not None:
                owned.add((name, key))
        elif owned is not None and (name, key) not in owned:
            found = outer[key] = found.copy()
            owned.add((name, key))
        return found

    def drop(self, name, key, rp_id):
        """Remove ``rp_id`` from ``index(name)[key]`` (and the entry when
        it empties)."""
        members = self.entry(name, key, set)
        if isinstance(members, dict):
            del members[rp_id]
        else:
            members.discard(rp_id)
        if not members:
            del self.index(name)[key]

    def add(self, p):
        rp_id = p.id
        self.index("providers")[rp_id] = p
        self.index("uuid_of")[rp_id] = p.uuid
        self.index("id_of")[p.uuid] = rp_id
        self.index("root_of")[rp_id] = p.root
        self.index("parent_of")[rp_id] = p.parent
        if p.parent is not None:
            self.version.nested += 1
        self.entry("members", p.root, set).add(rp_id)
        for rc_id, room in p.inventory.items():
            self.entry("by_class", rc_id, dict)[rp_id] = room
        if p.traits:
            self.index("traits_of")[rp_id] = p.traits
            for trait_id in p.traits:
                self.entry("by_trait", trait_id, set).add(rp_id)
        for agg_id in p.aggregates:
            self.entry("by_agg", agg_id, set).add(rp_id)

    def remove(self, p):
        rp_id = p.id
        del self.index("providers")[rp_id]
        del self.index("uuid_of")[rp_id]
        id_of = self.index("id_of")
        if id_of.get(p.uuid) == rp_id:
            del id_of[p.uuid]
        del self.index("root_of")[rp_id]
        del self.index("parent_of")[rp_id]
        if p.parent is not None:
            self.version.nested -= 1
        self.drop("members", p.root, rp_id)
        for rc_id in p.inventory:
            self.drop("by_class", rc_id, rp_id)
        if p.traits:
            del self.index("traits_of")[rp_id]
            for trait_id in p.traits:
                self.drop("by_trait", trait_id, rp_id)
        for agg_id in p.aggregates:
            self.drop("by_agg", agg_id, rp_id)


class Snapshot:
    """The current version of one database's providers, and how it is
    brought up to date (see the module docstring)."""

    def __init__(self, db=None):
        self.db = db
        self.current = None
        self._facts = _Facts()
        self._shared = {}
        self._refresh_lock = threading.Lock()
        self._full = True  # the next refresh loads everything
        self._loading = False  # the maintenance thread is still loading
        self._stop = threading.Event()
        self._thread = None
        self.loads = {"full": 0, "partial": 0}
        self.failures = 0
        self.drift_repairs = 0
        self.check_interval = 0

    # -- serving -------------------------------------------------------

    def version(self):
        """The current version, brought up to every change committed
        before this call. Raises ``Unavailable`` when that cannot be done
        now."""
        if self.current is None and self._loading:
            raise Unavailable("the provider snapshot is still loading")
        return self._update()

    def _update(self):
        with self._refresh_lock:
            try:
                with self.db.read(consistent=True) as conn:
                    self.refresh(conn)
            except sa_exc.DBAPIError as exc:
                raise Unavailable("the database cannot be reached") from exc
        return self.current

    def refresh(self, conn):
        """Bring the snapshot up to the log's head as seen by ``conn`` (a
        consistent read); publish the new version. Callers serialise
        refreshes (``version`` holds the refresh lock). Any error leaves
        the current version as it was and makes the next refresh load
        everything."""
        base = self.current
        try:
            seq, changed = changes.since(
                conn, None if self._full or base is None else base.seq)
            if (changed is changes.EVERYTHING
                    or len(changed) > _RELOAD_ALL_ABOVE):
                nxt = self._load_all(conn)
                self.loads["full"] += 1
            elif changed:
                nxt = self._reload(conn, base, changed)
                self.loads["partial"] += 1
            else:
                nxt = _Next(self._facts, base)
            self._name_classes(conn, nxt.version, base)
        except BaseException:
            self._full = True
            self.failures += 1
            raise
        nxt.version.seq = seq
        self.current = nxt.version
        self._full = False
        return nxt.version

    def _load_all(self, conn):
        self._shared = {}
        nxt = assemble(_load(conn, None, self._shared).values(), self._facts)
        if len(nxt.version.providers) >= _FREEZE_FROM:
            # Full collections would walk every object of the snapshot
            # (tens of ms at thousands of providers): collect, then
            # keep what is alive out of them. The snapshot holds no
            # reference cycles, so refcounting still frees it.
            gc.collect()
            gc.freeze()
        return nxt

    def _reload(self, conn, base, changed):
        if len(self._shared) > 2 * len(base.providers) + _SHARED_SLACK:
            self._shared = {}  # mostly ids of deleted providers by now
        ids = sorted(changed)
        loaded = {}
        for start in range(0, len(ids), _CHUNK):
            loaded.update(_load(conn, ids[start:start + _CHUNK],
                                self._shared))
        nxt = _Next(self._facts, base)
        placement_changed = False
        for rp_id in ids:
            old = base.providers.get(rp_id)
            new = loaded.get(rp_id)
            if _placement(old) != _placement(new):
                placement_changed = True
            if old is not None:
                nxt.remove(old)
            if new is not None:
                nxt.add(new)
        if placement_changed:
            nxt.version._anchors = {}
        return nxt

    def _name_classes(self, conn, version, base):
        names = resource_classes.names_for(conn, version.by_class)
        if base is not None and names == base.rc_names:
            version.rc_names = base.rc_names
            version.names_epoch = base.names_epoch
        else:
            version.rc_names = names
            version.names_epoch = 0 if base is None else base.names_epoch + 1

    # -- maintenance ---------------------------------------------------

    def start(self, check_interval=0):
        """Load now (a worker starting), then keep a maintenance thread
        that retries a failed load and checks for drift every
        ``check_interval`` seconds (0: never)."""
        if self._thread is not None:
            return
        self.check_interval = check_interval
        try:
            self.version()
        except Unavailable as exc:
            LOG.warning("provider snapshot not loaded at start (%s); "
                        "candidates answer 503 until it is", exc.__cause__)
            self._loading = True
        if self._loading or check_interval > 0:
            self._thread = threading.Thread(
                target=_maintain, args=(weakref.ref(self), self._stop),
                name="allotment-snapshot", daemon=True)
            self._thread.start()

    def stop(self):
        """End the maintenance thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def check(self):
        """Compare the snapshot with the database; on a difference, log
        what differed, reload everything and answer the differences."""
        with self._refresh_lock:
            with self.db.read(consistent=True) as conn:
                version = self.refresh(conn)
                stored = fingerprint.of_database(conn)
        held = fingerprint.of_version(version)
        differences = fingerprint.compare(held, stored)
        if differences:
            LOG.warning("provider snapshot differed from the database "
                        "(%s): reloading everything (a write that bypassed "
                        "the change log?)", "; ".join(differences))
            self.drift_repairs += 1
            self._full = True
            self._update()
        return differences

    def counters(self):
        """Figures for the metrics: the current version's age in seconds,
        providers held, loads by kind, failed refreshes, drift repairs."""
        version = self.current
        return {
            "loaded": version is not None,
            "age_seconds": (None if version is None
                            else time.monotonic() - version.built_at),
            "providers": 0 if version is None else len(version.providers),
            "seq": None if version is None else version.seq,
            "full_loads": self.loads["full"],
            "partial_loads": self.loads["partial"],
            "failures": self.failures,
            "drift_repairs": self.drift_repairs,
        }


def assemble(providers, facts=None):
    """The next version (a ``_Next``) holding just ``providers``."""
    nxt = _Next(facts or _Facts())
    for provider in providers:
        nxt.add(provider)
    return nxt


def _maintain(ref, stop):
    """The maintenance thread: while the snapshot is not loaded, try again
    every RETRY_SECONDS; then check for drift every ``check_interval``
    seconds (if any). Ends on ``stop`` or when the snapshot is gone."""
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
            try:
                snap.check()
            except Exception:  # noqa: BLE001 - the thread must go on
                LOG.warning("provider snapshot check failed",
                            exc_info=True)
        del snap


class _Limits:
    """The ``limits`` mapping of a search problem, read from the rooms."""

    __slots__ = ("by_class",)

    def __init__(self, by_class):
        self.by_class = by_class

    def get(self, key, default=None):
        rp_id, rc_id = key
        room = self.by_class.get(rc_id, {}).get(rp_id)
        return default if room is None else room.limit


def _placement(provider):
    """What the anchors of sharing providers depend on."""
    if provider is None or not provider.aggregates:
        return None
    return provider.root, provider.aggregates


def _load(conn, ids, shared):
    """id -> Provider for the providers ``ids`` (None: all), five queries.

    Equal tree ids, trait and aggregate sets are stored once (``shared``
    maps each value to its first copy): most providers have the same few.
    """
    same = shared.setdefault

    def where(column, sel):
        return sel if ids is None else sel.where(column.in_(ids))

    providers = {
        rp_id: Provider(same(rp_id, rp_id), uuid,
                        None if parent is None else same(parent, parent),
                        same(root, root))
        for rp_id, uuid, parent, root in conn.execute(where(RP.c.id, sa.select(
            RP.c.id, RP.c.uuid, RP.c.parent_provider_id,
            RP.c.root_provider_id)))}
    if not providers:
        return providers
    used = {(rp_id, rc_id): int(total or 0)
            for rp_id, rc_id, total in conn.execute(where(
                ALLOC.c.resource_provider_id, sa.select(
                    ALLOC.c.resource_provider_id, ALLOC.c.resource_class_id,
                    sa.func.sum(ALLOC.c.used))
                .group_by(ALLOC.c.resource_provider_id,
                          ALLOC.c.resource_class_id)))}
    for (rp_id, rc_id, total, reserved, ratio, min_unit, max_unit,
         step) in conn.execute(where(INV.c.resource_provider_id, sa.select(
             INV.c.resource_provider_id, INV.c.resource_class_id,
             INV.c.total, INV.c.reserved, INV.c.allocation_ratio,
             INV.c.min_unit, INV.c.max_unit, INV.c.step_size))):
        provider = providers.get(rp_id)
        if provider is not None:
            provider.inventory[rc_id] = Room(
                total, reserved, ratio, used.get((rp_id, rc_id), 0),
                min_unit, max_unit, step)
    trait_rows = {}
    for rp_id, trait_id, name in conn.execute(where(
            RPT.c.resource_provider_id, sa.select(
                RPT.c.resource_provider_id, RPT.c.trait_id, TRAITS.c.name)
            .select_from(RPT.join(TRAITS, TRAITS.c.id == RPT.c.trait_id))
            .order_by(RPT.c.trait_id))):
        trait_rows.setdefault(rp_id, []).append((trait_id, name))
    for rp_id, pairs in trait_rows.items():
        provider = providers.get(rp_id)
        if provider is not None:
            held = frozenset(t for t, _n in pairs)
            names = tuple(n for _t, n in pairs)
            provider.traits = same(held, held)
            provider.trait_names = same(names, names)
    aggregates = {}
    for rp_id, agg_id in conn.execute(where(
            RPA.c.resource_provider_id, sa.select(
                RPA.c.resource_provider_id, RPA.c.aggregate_id))):
        aggregates.setdefault(rp_id, set()).add(agg_id)
    for rp_id, agg_ids in aggregates.items():
        provider = providers.get(rp_id)
        if provider is not None:
            agg_ids = frozenset(agg_ids)
            provider.aggregates = same(agg_ids, agg_ids)
    return providers


_SNAPSHOTS = weakref.WeakKeyDictionary()
_SNAPSHOTS_LOCK = threading.Lock()


def for_database(db):
    """The process-wide snapshot of the database ``db``."""
    with _SNAPSHOTS_LOCK:
        snap = _SNAPSHOTS.get(db)
        if snap is None:
            snap = _SNAPSHOTS[db] = Snapshot(db)
        return snap
