"""An in-memory copy of every provider, kept current through the change log.

One ``Snapshot`` per database per process (``for_database``). Before each
use, ``refresh`` reads the provider change log first, then reloads only the
providers it names (a few ``IN (...)`` queries), or everything on the first
use and whenever the log says so. Each provider is replaced by a new
``Provider`` object, never changed in place, and the indexes the candidates
search needs are updated for that provider alone:

- ``by_class``: class id -> {provider id -> ``Room``} for providers with an
  inventory of that class;
- ``by_trait`` and ``by_agg``: trait / aggregate id -> provider ids;
- ``members``: root id -> provider ids of the tree; ``uuid_of``,
  ``root_of``, ``parent_of``, ``traits_of`` and ``id_of`` (uuid -> id);
- the roots each sharing provider is anchored to through its aggregates,
  computed on demand and dropped when aggregate membership or trees change;
- aggregate uuid -> id, and the id of MISC_SHARES_VIA_AGGREGATE, read once.

Callers hold ``lock`` while refreshing and using the snapshot, so a request
sees one consistent state. ``rc_names`` names every class held; when a
custom class is renamed the cached summaries are dropped.
"""

import gc
import threading
import weakref

import sqlalchemy as sa

from allotment.domain import resource_classes
from allotment.domain import traits
from allotment.storage import changes
from allotment.storage import tables

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


class Room:
    """One inventory of a provider with its usage. ``capacity`` is
    (total - reserved) * allocation_ratio; ``limit`` is the most one request
    may still take (capacity left, capped by max_unit): an amount fits when
    min_unit <= amount <= limit and amount is a multiple of step."""

    __slots__ = ("capacity", "used", "min_unit", "max_unit", "step", "limit")

    def __init__(self, capacity, used, min_unit, max_unit, step):
        self.capacity = capacity
        self.used = used
        self.min_unit = min_unit
        self.max_unit = max_unit
        self.step = step
        self.limit = min(int(capacity) - used, max_unit)


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


class Snapshot:
    """Every provider of one database, with the indexes described above."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cursor = changes.Cursor()
        self.rc_names = {}
        self._clear()

    def _clear(self):
        self.providers = {}
        self.by_class = {}
        self.by_trait = {}
        self.by_agg = {}
        self.members = {}
        self.uuid_of = {}
        self.id_of = {}
        self.root_of = {}
        self.parent_of = {}
        self.traits_of = {}
        self.nested = 0  # providers with a parent
        self._shared = {}
        self._agg_ids = {}
        self._sharing_trait = None
        self._anchors = {}

    # -- loading --------------------------------------------------------

    def refresh(self, conn):
        """Bring the snapshot up to date (call with ``lock`` held)."""
        changed = self.cursor.read(conn)
        if changed is changes.EVERYTHING or len(changed) > _RELOAD_ALL_ABOVE:
            self._clear()
            for provider in _load(conn, None, self._shared).values():
                self._add(provider)
            if len(self.providers) >= _FREEZE_FROM:
                # Full collections would walk every object of the snapshot
                # (tens of ms at thousands of providers): collect, then
                # keep what is alive out of them. The snapshot holds no
                # reference cycles, so refcounting still frees it.
                gc.collect()
                gc.freeze()
        elif changed:
            self._reload(conn, changed)
        names = resource_classes.names_for(conn, self.by_class)
        if names != self.rc_names:
            for provider in self.providers.values():
                provider.fragments.clear()
            self.rc_names = names

    def _reload(self, conn, changed):
        if len(self._shared) > 2 * len(self.providers) + _SHARED_SLACK:
            self._shared = {}  # mostly ids of deleted providers by now
        ids = sorted(changed)
        loaded = {}
        for start in range(0, len(ids), _CHUNK):
            loaded.update(_load(conn, ids[start:start + _CHUNK],
                                self._shared))
        for rp_id in ids:
            old = self.providers.get(rp_id)
            new = loaded.get(rp_id)
            if _placement(old) != _placement(new):
                self._anchors.clear()
            if old is not None:
                self._remove(old)
            if new is not None:
                self._add(new)

    def _add(self, p):
        rp_id = p.id
        self.providers[rp_id] = p
        self.uuid_of[rp_id] = p.uuid
        self.id_of[p.uuid] = rp_id
        self.root_of[rp_id] = p.root
        self.parent_of[rp_id] = p.parent
        if p.parent is not None:
            self.nested += 1
        self.members.setdefault(p.root, set()).add(rp_id)
        for rc_id, room in p.inventory.items():
            self.by_class.setdefault(rc_id, {})[rp_id] = room
        if p.traits:
            self.traits_of[rp_id] = p.traits
            for trait_id in p.traits:
                self.by_trait.setdefault(trait_id, set()).add(rp_id)
        for agg_id in p.aggregates:
            self.by_agg.setdefault(agg_id, set()).add(rp_id)

    def _remove(self, p):
        rp_id = p.id
        del self.providers[rp_id]
        del self.uuid_of[rp_id]
        self.id_of.pop(p.uuid, None)
        del self.root_of[rp_id]
        del self.parent_of[rp_id]
        if p.parent is not None:
            self.nested -= 1
        _discard(self.members, p.root, rp_id)
        for rc_id in p.inventory:
            rooms = self.by_class[rc_id]
            del rooms[rp_id]
            if not rooms:
                del self.by_class[rc_id]
        self.traits_of.pop(rp_id, None)
        for trait_id in p.traits:
            _discard(self.by_trait, trait_id, rp_id)
        for agg_id in p.aggregates:
            _discard(self.by_agg, agg_id, rp_id)

    # -- queries --------------------------------------------------------

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
        """uuid -> id of the known aggregates among ``uuids`` (an
        aggregate's id never changes and its row is never deleted)."""
        known = self._agg_ids
        missing = [u for u in uuids if u not in known]
        if missing:
            known.update(conn.execute(sa.select(AGG.c.uuid, AGG.c.id).where(
                AGG.c.uuid.in_(missing))).all())
        return {u: known[u] for u in uuids if u in known}

    def limits(self):
        """(provider, class) -> ``Room.limit``, looked up as needed."""
        return _Limits(self.by_class)

    def sharing_trait(self, conn):
        """The id of MISC_SHARES_VIA_AGGREGATE (a standard trait: its id
        never changes once it exists)."""
        if self._sharing_trait is None:
            self._sharing_trait = traits.ids_for(
                conn, [SHARING_TRAIT]).get(SHARING_TRAIT)
        return self._sharing_trait

    def with_trait(self, trait_id):
        return self.by_trait.get(trait_id, set())

    def in_aggregates(self, agg_ids):
        """Providers in any of ``agg_ids``."""
        found = set()
        for agg_id in agg_ids:
            found |= self.by_agg.get(agg_id, set())
        return found


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


def _discard(index, key, rp_id):
    members = index.get(key)
    if members is not None:
        members.discard(rp_id)
        if not members:
            del index[key]


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
                (total - reserved) * ratio, used.get((rp_id, rc_id), 0),
                min_unit, max_unit, step)
    traits = {}
    for rp_id, trait_id, name in conn.execute(where(
            RPT.c.resource_provider_id, sa.select(
                RPT.c.resource_provider_id, RPT.c.trait_id, TRAITS.c.name)
            .select_from(RPT.join(TRAITS, TRAITS.c.id == RPT.c.trait_id))
            .order_by(RPT.c.trait_id))):
        traits.setdefault(rp_id, []).append((trait_id, name))
    for rp_id, pairs in traits.items():
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
            snap = _SNAPSHOTS[db] = Snapshot()
        return snap
