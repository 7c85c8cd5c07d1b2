"""What the engine is asked: a ``Request`` of request groups, and the
``Flags`` of the answer's form (derived once from the microversion by
api/candidates_query.py, so the engine knows no versions)."""

import dataclasses


@dataclasses.dataclass
class Group:
    """One request group; ``suffix`` "" is the unsuffixed group, whose
    resources may come from several providers of one tree."""

    suffix: str
    resources: dict[str, int] = dataclasses.field(default_factory=dict)
    required: list[set[str]] = dataclasses.field(default_factory=list)
    forbidden: set[str] = dataclasses.field(default_factory=set)
    member_of: list[set[str]] = dataclasses.field(default_factory=list)
    forbidden_aggs: set[str] = dataclasses.field(default_factory=set)
    in_tree: str | None = None

    @property
    def granular(self) -> bool:
        return self.suffix != ""


@dataclasses.dataclass
class Request:
    """Request-wide parameters plus the groups, in the order their
    suffixes first appear in the query string."""

    groups: list[Group]
    limit: int | None = None
    group_policy: str | None = None
    root_required: set[str] = dataclasses.field(default_factory=set)
    root_forbidden: set[str] = dataclasses.field(default_factory=set)
    same_subtrees: list[set[str]] = dataclasses.field(default_factory=list)

    def names(self) -> tuple[set[str], set[str]]:
        """(trait names, aggregate uuids) the request mentions."""
        trait_names = set(self.root_required | self.root_forbidden)
        agg_uuids: set[str] = set()
        for group in self.groups:
            for any_of in group.required:
                trait_names |= any_of
            trait_names |= group.forbidden
            for any_of in group.member_of:
                agg_uuids |= any_of
            agg_uuids |= group.forbidden_aggs
        return trait_names, agg_uuids


@dataclasses.dataclass(frozen=True)
class Flags:
    """How to search and render, all False being the oldest form (1.10).

    ``one_per_tree``: each class from one provider of a tree (before
    1.29); ``dict_form``: allocation requests keyed by provider uuid;
    ``mappings``: with group -> providers; ``traits_in_summaries``,
    ``all_classes_in_summaries``, ``nested_summaries``: what provider
    summaries show (traits; every class, not just the requested ones;
    whole trees with parent and root uuids)."""

    one_per_tree: bool = True
    dict_form: bool = False
    mappings: bool = False
    traits_in_summaries: bool = False
    all_classes_in_summaries: bool = False
    nested_summaries: bool = False
