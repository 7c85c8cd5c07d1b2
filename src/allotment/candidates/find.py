"""The SQL side of allocation candidates.

``plan`` resolves a parsed request against the database with a fixed
number of set-oriented queries, whatever the number of providers: names to
ids (classes, traits, aggregates, in_tree providers), the inventories with
room for each requested class (capacity, usage, limits), the providers
holding the relevant traits and aggregates, the trees sharing providers are
anchored to, and the parent links a same_subtree check needs. From those
rows it builds, per slot and per anchor tree, the providers that may serve
it (``combine.Problem``), applying the reference's rules:

- a granular group is served by one provider holding all its classes,
  traits (individually) and aggregates; a provider with
  MISC_SHARES_VIA_AGGREGATE also serves the trees sharing an aggregate
  with it;
- the unsuffixed group takes each class from one provider of the tree, or
  from a sharing provider anchored to it; member_of is met when the
  provider or the tree's root is in the aggregates; required traits are
  checked on all its providers together (in ``combine``).

``summaries`` reads the provider summaries of the trees candidates used.
"""

import collections
import dataclasses

import sqlalchemy as sa

from allotment import exceptions
from allotment.candidates import combine
from allotment.domain import resource_classes
from allotment.storage import tables

SHARING_TRAIT = "MISC_SHARES_VIA_AGGREGATE"

RP = tables.resource_providers
INV = tables.inventories
ALLOC = tables.allocations
RPT = tables.resource_provider_traits
RPA = tables.resource_provider_aggregates
AGG = tables.placement_aggregates
TRAITS = tables.traits


class NoCandidates(Exception):
    """Some group can be satisfied nowhere: the answer is empty."""


@dataclasses.dataclass
class Plan:
    """A request resolved: the search problem plus what rendering needs."""

    problem: combine.Problem
    uuids: dict
    roots: dict
    rc_names: dict
    requested_rc_ids: set


@dataclasses.dataclass
class _Capacity:
    root: int
    total: int
    reserved: int
    ratio: float
    min_unit: int
    max_unit: int
    step: int
    used: int

    def fits(self, amount):
        return (self.used + amount <= (self.total - self.reserved)
                * self.ratio and self.min_unit <= amount <= self.max_unit
                and amount % self.step == 0)

    @property
    def limit(self):
        capacity = int((self.total - self.reserved) * self.ratio)
        return min(capacity - self.used, self.max_unit)


def plan(conn, request, version):
    """The Plan for ``request``, or None when nothing can match.

    Raises 400 for unknown classes or traits, in the reference's order.
    """
    try:
        return _Planner(conn, request, version).run()
    except NoCandidates:
        return None


class _Planner:
    def __init__(self, conn, request, version):
        self.conn = conn
        self.request = request
        self.version = version
        self.uuids = {}
        self.roots = {}

    # -- queries --------------------------------------------------------

    def _trait_ids(self, names):
        if not names:
            return {}
        return dict(self.conn.execute(sa.select(TRAITS.c.name, TRAITS.c.id)
                                      .where(TRAITS.c.name.in_(names))).all())

    def _capacities(self, min_amounts):
        """(provider, class) -> _Capacity for the requested classes, where
        at least the smallest requested amount would fit."""
        if not min_amounts:
            return {}
        usage = (sa.select(ALLOC.c.resource_provider_id,
                           ALLOC.c.resource_class_id,
                           sa.func.sum(ALLOC.c.used).label("used"))
                 .where(ALLOC.c.resource_class_id.in_(list(min_amounts)))
                 .group_by(ALLOC.c.resource_provider_id,
                           ALLOC.c.resource_class_id)
                 .subquery("usage"))
        used = sa.func.coalesce(usage.c.used, 0)
        conds = [sa.and_(INV.c.resource_class_id == rc_id,
                         used + amount <= (INV.c.total - INV.c.reserved)
                         * INV.c.allocation_ratio,
                         INV.c.max_unit >= amount)
                 for rc_id, amount in min_amounts.items()]
        sel = (sa.select(RP.c.id, RP.c.uuid, RP.c.root_provider_id,
                         INV.c.resource_class_id, INV.c.total,
                         INV.c.reserved, INV.c.allocation_ratio,
                         INV.c.min_unit, INV.c.max_unit, INV.c.step_size,
                         used)
               .select_from(INV.join(RP, RP.c.id == INV.c.resource_provider_id)
                            .outerjoin(usage, sa.and_(
                                usage.c.resource_provider_id
                                == INV.c.resource_provider_id,
                                usage.c.resource_class_id
                                == INV.c.resource_class_id)))
               .where(sa.or_(*conds)))
        result = {}
        for (rp_id, uuid, root, rc_id, total, reserved, ratio, min_unit,
             max_unit, step, used_sum) in self.conn.execute(sel):
            self.uuids[rp_id] = uuid
            self.roots[rp_id] = root
            result[rp_id, rc_id] = _Capacity(
                root, total, reserved, ratio, min_unit, max_unit, step,
                int(used_sum or 0))
        return result

    def _provider_traits(self, trait_ids):
        """provider -> set of trait ids, for the given traits only."""
        found = collections.defaultdict(set)
        if not trait_ids:
            return found
        sel = (sa.select(RP.c.id, RP.c.uuid, RP.c.root_provider_id,
                         RPT.c.trait_id)
               .select_from(RPT.join(RP, RP.c.id == RPT.c.resource_provider_id))
               .where(RPT.c.trait_id.in_(list(trait_ids))))
        for rp_id, uuid, root, trait_id in self.conn.execute(sel):
            self.uuids[rp_id] = uuid
            self.roots[rp_id] = root
            found[rp_id].add(trait_id)
        return found

    def _provider_aggregates(self, agg_uuids):
        """provider -> set of aggregate uuids, for the given aggregates."""
        found = collections.defaultdict(set)
        if not agg_uuids:
            return found
        sel = (sa.select(RP.c.id, RP.c.uuid, RP.c.root_provider_id,
                         AGG.c.uuid)
               .select_from(RPA.join(AGG, AGG.c.id == RPA.c.aggregate_id)
                            .join(RP, RP.c.id == RPA.c.resource_provider_id))
               .where(AGG.c.uuid.in_(list(agg_uuids))))
        for rp_id, uuid, root, agg_uuid in self.conn.execute(sel):
            self.uuids[rp_id] = uuid
            self.roots[rp_id] = root
            found[rp_id].add(agg_uuid)
        return found

    def _tree_roots(self, uuids):
        if not uuids:
            return {}
        return dict(self.conn.execute(
            sa.select(RP.c.uuid, RP.c.root_provider_id)
            .where(RP.c.uuid.in_(list(uuids)))).all())

    def _sharing_anchors(self, sharing):
        """sharing provider -> roots of the trees sharing an aggregate."""
        anchors = collections.defaultdict(set)
        if not sharing:
            return anchors
        mine = RPA.alias("mine")
        theirs = RPA.alias("theirs")
        member = RP.alias("member")
        sel = (sa.select(mine.c.resource_provider_id,
                         member.c.root_provider_id).distinct()
               .select_from(mine.join(
                   theirs, theirs.c.aggregate_id == mine.c.aggregate_id)
                   .join(member, member.c.id == theirs.c.resource_provider_id))
               .where(mine.c.resource_provider_id.in_(list(sharing))))
        for rp_id, root in self.conn.execute(sel):
            anchors[rp_id].add(root)
        return anchors

    def _parents(self, root_ids):
        if not root_ids:
            return {}
        return dict(self.conn.execute(
            sa.select(RP.c.id, RP.c.parent_provider_id)
            .where(RP.c.root_provider_id.in_(list(root_ids)))).all())

    def _has_trees(self):
        return self.conn.execute(
            sa.select(RP.c.id).where(RP.c.parent_provider_id.isnot(None))
            .limit(1)).first() is not None

    # -- planning -------------------------------------------------------

    def run(self):
        request, groups = self.request, self.request.groups
        trait_names = set(request.root_required | request.root_forbidden)
        agg_uuids = set()
        for group in groups:
            for any_of in group.required:
                trait_names |= any_of
            trait_names |= group.forbidden
            for any_of in group.member_of:
                agg_uuids |= any_of
            agg_uuids |= group.forbidden_aggs
        trait_ids = self._trait_ids(trait_names | {SHARING_TRAIT})
        anchor_ok = self._anchor_filter(trait_ids)
        rc_ids = resource_classes.ids_for(
            self.conn, {rc for g in groups for rc in g.resources})
        min_amounts = {}
        for group in groups:
            for name, amount in group.resources.items():
                rc_id = rc_ids.get(name)
                if rc_id is not None:
                    min_amounts[rc_id] = min(
                        amount, min_amounts.get(rc_id, amount))
        capacities = self._capacities(min_amounts)
        by_class = collections.defaultdict(list)
        for (rp_id, rc_id), cap in capacities.items():
            by_class[rc_id].append((rp_id, cap))
        traits_of = self._provider_traits(set(trait_ids.values()))
        aggs_of = self._provider_aggregates(agg_uuids)
        tree_of = self._tree_roots({g.in_tree for g in groups if g.in_tree})
        sharing_id = trait_ids.get(SHARING_TRAIT)
        sharing = {rp for rp, ids in traits_of.items() if sharing_id in ids}
        self.coagg = self._sharing_anchors(sharing)
        self.sharing = sharing
        self.anchor_ok = anchor_ok

        slots, slot_options = [], []
        required_ids, unsuffixed_traits = [], {}
        for group in groups:
            resolved = self._resolve(group, rc_ids, trait_ids, aggs_of,
                                     tree_of, by_class)
            if group.granular:
                options = self._granular_options(group, resolved, traits_of,
                                                 aggs_of)
                slots.append(combine.Slot(group.suffix, True, tuple(
                    (rc_ids[n], a) for n, a in group.resources.items())))
                slot_options.append(options)
            else:
                required_ids = resolved["required"]
                for name, amount in group.resources.items():
                    options = self._unsuffixed_options(
                        resolved, name, traits_of)
                    slots.append(combine.Slot("", False,
                                              ((rc_ids[name], amount),)))
                    slot_options.append(options)
                    for per_anchor in options.values():
                        for rp in per_anchor:
                            unsuffixed_traits[rp] = frozenset(
                                traits_of.get(rp, ()))
        return self._build(slots, slot_options, capacities, required_ids,
                           unsuffixed_traits, rc_ids)

    def _anchor_filter(self, trait_ids):
        """A predicate on roots for root_required (None: any root)."""
        required = self.request.root_required
        forbidden = self.request.root_forbidden
        if not (required or forbidden):
            return None
        for name in sorted(required | forbidden):
            if name not in trait_ids:
                raise exceptions.BadRequest("No such trait(s): %s." % name)
        need = {trait_ids[n] for n in required}
        banned = {trait_ids[n] for n in forbidden}
        ids = need | banned
        rows = self.conn.execute(
            sa.select(RPT.c.resource_provider_id, RPT.c.trait_id)
            .select_from(RPT.join(RP, RP.c.id == RPT.c.resource_provider_id))
            .where(RPT.c.trait_id.in_(list(ids)),
                   RP.c.parent_provider_id.is_(None))).all()
        have = collections.defaultdict(set)
        for rp_id, trait_id in rows:
            have[rp_id].add(trait_id)
        if need and not any(need <= t and not (t & banned)
                            for t in have.values()):
            raise NoCandidates()
        return lambda root: (need <= have.get(root, set())
                             and not (have.get(root, set()) & banned))

    def _resolve(self, group, rc_ids, trait_ids, aggs_of, tree_of, by_class):
        """Check one group as the reference does, in its order; return
        its filters as ids and the providers with room per class."""
        for name in group.resources:
            if name not in rc_ids:
                raise exceptions.BadRequest(
                    "Invalid resource class in resources parameter: No such "
                    "resource class %s." % name)
        in_aggs = None
        if group.member_of:
            in_aggs = {rp for rp, aggs in aggs_of.items()
                       if all(aggs & any_of for any_of in group.member_of)}
            if not in_aggs:
                raise NoCandidates()
        for names in group.required + [group.forbidden]:
            for name in sorted(names):
                if name not in trait_ids:
                    raise exceptions.BadRequest(
                        "No such trait(s): %s." % name)
        tree = None
        if group.in_tree:
            tree = tree_of.get(group.in_tree)
            if tree is None:
                raise NoCandidates()
        with_room = {}
        for name, amount in group.resources.items():
            fit = {rp for rp, cap in by_class[rc_ids[name]]
                   if cap.fits(amount) and (tree is None or cap.root == tree)}
            if not fit:
                raise NoCandidates()
            with_room[name] = fit
        banned_aggs = {rp for rp, aggs in aggs_of.items()
                       if aggs & group.forbidden_aggs}
        return {
            "in_aggs": in_aggs,
            "banned_aggs": banned_aggs,
            "required": [frozenset(trait_ids[n] for n in any_of)
                         for any_of in group.required],
            "forbidden": {trait_ids[n] for n in group.forbidden},
            "tree": tree,
            "with_room": with_room,
        }

    def _anchors_of(self, rp):
        anchors = {self.roots[rp]}
        if rp in self.sharing:
            anchors |= self.coagg.get(rp, set())
        return anchors

    def _granular_options(self, group, resolved, traits_of, aggs_of):
        """anchor root -> providers able to serve the granular group."""
        required, forbidden = resolved["required"], resolved["forbidden"]
        in_aggs = resolved["in_aggs"]
        if group.resources:
            rooms = list(resolved["with_room"].values())
            found = set.intersection(*rooms)
        elif required or in_aggs is not None:
            found = set(traits_of) | set(aggs_of)
        else:
            found = set()
        if required:
            found = {rp for rp in found if all(
                any_of & traits_of.get(rp, set()) for any_of in required)}
        if in_aggs is not None:
            found &= in_aggs
        found -= resolved["banned_aggs"]
        if forbidden:
            found = {rp for rp in found
                     if not (traits_of.get(rp, set()) & forbidden)}
        options = collections.defaultdict(list)
        for rp in sorted(found):
            for anchor in self._anchors_of(rp):
                options[anchor].append(rp)
        if not options:
            raise NoCandidates()
        return options

    def _unsuffixed_options(self, resolved, name, traits_of):
        """anchor root -> providers able to give the unsuffixed group its
        amount of the class ``name``."""
        in_aggs, banned = resolved["in_aggs"], resolved["banned_aggs"]
        forbidden = resolved["forbidden"]
        options = collections.defaultdict(list)
        for rp in sorted(resolved["with_room"][name]):
            if forbidden and traits_of.get(rp, set()) & forbidden:
                continue
            anchors = {self.roots[rp]}
            if (resolved["tree"] is None and rp in self.sharing
                    and (in_aggs is None or rp in in_aggs)):
                anchors |= self.coagg.get(rp, set())
            for anchor in anchors:
                if in_aggs is not None and not (
                        rp in in_aggs or anchor in in_aggs):
                    continue
                if rp in banned or anchor in banned:
                    continue
                options[anchor].append(rp)
        if not options:
            raise NoCandidates()
        return options

    def _build(self, slots, slot_options, capacities, required_ids,
               unsuffixed_traits, rc_ids):
        anchors = set.intersection(*(set(o) for o in slot_options))
        if self.anchor_ok is not None:
            anchors = {a for a in anchors if self.anchor_ok(a)}
        if not anchors:
            raise NoCandidates()
        ordered = sorted(anchors)
        anchor_lists = [(root, [o[root] for o in slot_options])
                        for root in ordered]
        suffix_slot = {s.suffix: i for i, s in enumerate(slots) if s.granular}
        same_subtrees = [tuple(suffix_slot[s] for s in sorted(members))
                         for members in self.request.same_subtrees]
        parents = {}
        if same_subtrees:
            trees = set()
            for members in same_subtrees:
                for i in members:
                    for root, rps in slot_options[i].items():
                        trees.update(self.roots[rp] for rp in rps)
            parents = self._parents(trees)
        one_per_tree = (not self.version.matches((1, 29))
                        and self._has_trees())
        limits = {key: cap.limit for key, cap in capacities.items()}
        shared = frozenset(rp for rp in self.sharing
                           if len(self._anchors_of(rp)) > 1)
        problem = combine.Problem(
            slots=slots, anchors=anchor_lists, limits=limits,
            isolate=self.request.group_policy == "isolate",
            same_subtrees=same_subtrees, parents=parents,
            required=required_ids,
            traits=unsuffixed_traits, one_per_tree=one_per_tree,
            roots=self.roots, shared=shared)
        requested = set(rc_ids.values())
        return Plan(problem=problem, uuids=self.uuids, roots=self.roots,
                    rc_names={v: k for k, v in rc_ids.items()},
                    requested_rc_ids=requested)


@dataclasses.dataclass
class Summary:
    uuid: str
    parent_uuid: str
    root_uuid: str
    resources: dict = dataclasses.field(default_factory=dict)
    traits: list = dataclasses.field(default_factory=list)


def summaries(conn, roots=None, providers=None, rc_ids=None, traits=False):
    """Summaries of every provider in the trees ``roots`` (or of the
    ``providers``): capacity and usage per class (only ``rc_ids`` when
    given) and, with ``traits``, trait names. Three queries."""
    me, parent, root = RP.alias("me"), RP.alias("parent"), RP.alias("root")
    if roots is not None:
        where = me.c.root_provider_id.in_(list(roots))
    else:
        where = me.c.id.in_(list(providers))
    rows = conn.execute(
        sa.select(me.c.id, me.c.uuid, parent.c.uuid, root.c.uuid)
        .select_from(me.join(root, root.c.id == me.c.root_provider_id)
                     .outerjoin(parent, parent.c.id == me.c.parent_provider_id))
        .where(where)).all()
    found = {rp_id: Summary(uuid, parent_uuid, root_uuid)
             for rp_id, uuid, parent_uuid, root_uuid in rows}
    if not found:
        return []
    ids = list(found)
    usage = (sa.select(ALLOC.c.resource_provider_id,
                       ALLOC.c.resource_class_id,
                       sa.func.sum(ALLOC.c.used).label("used"))
             .where(ALLOC.c.resource_provider_id.in_(ids))
             .group_by(ALLOC.c.resource_provider_id,
                       ALLOC.c.resource_class_id)
             .subquery("usage"))
    sel = (sa.select(INV.c.resource_provider_id, INV.c.resource_class_id,
                     INV.c.total, INV.c.reserved, INV.c.allocation_ratio,
                     usage.c.used)
           .select_from(INV.outerjoin(usage, sa.and_(
               usage.c.resource_provider_id == INV.c.resource_provider_id,
               usage.c.resource_class_id == INV.c.resource_class_id)))
           .where(INV.c.resource_provider_id.in_(ids)))
    if rc_ids is not None:
        sel = sel.where(INV.c.resource_class_id.in_(list(rc_ids)))
    inventory = conn.execute(sel).all()
    names = resource_classes.names_for(
        conn, {row.resource_class_id for row in inventory})
    for rp_id, rc_id, total, reserved, ratio, used in inventory:
        found[rp_id].resources[names[rc_id]] = (
            int((total - reserved) * ratio), int(used or 0))
    if traits:
        for rp_id, name in conn.execute(
                sa.select(RPT.c.resource_provider_id, TRAITS.c.name)
                .select_from(RPT.join(TRAITS, TRAITS.c.id == RPT.c.trait_id))
                .where(RPT.c.resource_provider_id.in_(ids))
                .order_by(RPT.c.trait_id)):
            found[rp_id].traits.append(name)
    return list(found.values())
