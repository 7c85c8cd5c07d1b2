"""Parsing and validating GET /allocation_candidates query strings.

The result is a ``candidates.groups.Request``: request-wide parameters plus
the request groups in the order their suffixes first appear in the query
string (the order the reference evaluates them in, which decides which
error wins). ``flags`` turns the microversion into the engine's Flags.
"""

import re

from allotment import exceptions
from allotment.api import http
from allotment.api import microversion
from allotment.api import query
from allotment.api.schemas import allocation_candidates as schema
from allotment.api.schemas import common
from allotment.candidates.groups import Flags
from allotment.candidates.groups import Group
from allotment.candidates.groups import Request

_KEYS = "resources|required|member_of|in_tree"
_KEY = re.compile(r"^(%s)(%s)?$" % (_KEYS, common.GROUP_SUFFIX_PATTERN))
_KEY_1_33 = re.compile(
    r"^(%s)(%s)?$" % (_KEYS, common.GROUP_SUFFIX_PATTERN_1_33)
)


def flags(version):
    """The engine's Flags for a request at ``version``."""
    return Flags(
        one_per_tree=not version.matches(microversion.NESTED_SUMMARIES),
        dict_form=version.matches(microversion.ALLOCATIONS_DICT),
        mappings=version.matches(microversion.MAPPINGS),
        traits_in_summaries=version.matches(microversion.CANDIDATES_REQUIRED),
        all_classes_in_summaries=version.matches(
            microversion.ALL_CLASSES_IN_SUMMARIES
        ),
        nested_summaries=version.matches(microversion.NESTED_SUMMARIES),
    )


# Keys that may be given more than once: required and member_of (their
# parsers apply the microversion rules), same_subtree, and limit and
# group_policy, whose first value counts (as in the reference, whose own
# tests send them twice).
_FIRST_WINS = ("limit", "group_policy")


def _repeatable(name):
    return (
        name in _FIRST_WINS
        or name == "same_subtree"
        or name.startswith(("required", "member_of"))
    )


# Query parameters found valid, with their schema's id (the schemas are
# module constants): schedulers send the same few queries again and again,
# and checking one against the JSON schema cost more than the rest of
# parsing it. Only valid ones are kept (an invalid one is checked again,
# for its 400); at most _VALID_KEPT, then forgotten all at once.
_VALID = set()
_VALID_KEPT = 1024


def _validate(values, query_schema):
    key = (id(query_schema), tuple(sorted(values.items())))
    if key in _VALID:
        return
    http.validate(
        values, query_schema, prefix="Invalid query string parameters"
    )
    if len(_VALID) >= _VALID_KEPT:
        _VALID.clear()
    _VALID.add(key)


def parse(params, version):
    """``params`` (name -> list of values) at ``version`` -> Request."""
    query_schema = schema.for_version(version)
    last = {name: values[-1] for name, values in params.items()}
    _validate(last, query_schema)
    http.reject_repeated(params, _repeatable)
    for name in _FIRST_WINS:
        # The first value is used: every value must be valid.
        for value in params.get(name, ())[:-1]:
            _validate(dict(last, **{name: value}), query_schema)
    request = Request(groups=[])
    if "limit" in params:
        request.limit = int(params["limit"][0])
    if "group_policy" in params:
        request.group_policy = params["group_policy"][0]
    _parse_root_required(request, params.get("root_required"))
    _parse_same_subtree(request, params.get("same_subtree"))
    groups = _parse_groups(params, version)
    if version.matches(microversion.SAME_SUBTREE):
        _check_resourceless(groups, request.same_subtrees)
    else:
        _check_orphans(groups)
    if version.matches(microversion.FORBIDDEN_TRAITS):
        _check_conflicts(groups)
    if (
        not request.group_policy
        and sum(1 for g in groups.values() if g.granular) > 1
    ):
        raise exceptions.BadRequest(
            'The "group_policy" parameter is required when specifying '
            'more than one "resources{N}" parameter.'
        )
    request.groups = list(groups.values())
    return request


def _parse_root_required(request, values):
    if not values:
        return
    if len(values) > 1:
        raise exceptions.BadRequest(
            "Query parameter 'root_required' may be specified only once.",
            exceptions.ILLEGAL_DUPLICATE_QUERYPARAM,
        )
    any_sets, forbidden = query.required_value(values[0], True, False)
    required = {name for names in any_sets for name in names}
    conflicts = required & forbidden
    if conflicts:
        raise exceptions.BadRequest(
            "Conflicting required and forbidden traits found in "
            "root_required: %s" % ", ".join(sorted(conflicts)),
            exceptions.QUERYPARAM_BAD_VALUE,
        )
    request.root_required, request.root_forbidden = required, forbidden


def _parse_same_subtree(request, values):
    for value in values or ():
        suffixes = {part.strip() for part in value.split(",")}
        if "" in suffixes:
            raise exceptions.BadRequest(
                "Empty string (unsuffixed group) can not be specified in "
                "`same_subtree` ",
                exceptions.QUERYPARAM_BAD_VALUE,
            )
        request.same_subtrees.append(suffixes)


def _parse_groups(params, version):
    pattern = _KEY_1_33 if version.matches(microversion.ANY_SUFFIX) else _KEY
    groups = {}
    for key, values in params.items():
        match = pattern.match(key)
        if not match:
            continue
        kind, suffix = match.group(1), match.group(2) or ""
        group = groups.setdefault(suffix, Group(suffix))
        if kind == "resources":
            for value in values:
                group.resources = query.resources(value)
        elif kind == "required":
            group.required, group.forbidden = query.required(values, version)
        elif kind == "member_of":
            group.member_of, group.forbidden_aggs = query.member_of(
                values, version, suffix
            )
        else:
            for value in values:
                group.in_tree = query.in_tree(value)
    return groups


def _check_resourceless(groups, same_subtrees):
    resourceless = [s for s, g in groups.items() if not g.resources]
    if len(resourceless) == len(groups):
        raise exceptions.BadRequest(
            "There must be at least one resources or resources[$S] parameter.",
            exceptions.QUERYPARAM_MISSING_VALUE,
        )
    in_subtrees = set().union(*same_subtrees)
    bad = [s for s in resourceless if s not in in_subtrees]
    if bad:
        raise exceptions.BadRequest(
            "Resourceless suffixed group request should be specified in "
            "`same_subtree` query param: bad group(s) - %s." % bad,
            exceptions.QUERYPARAM_BAD_VALUE,
        )
    bad = [s for s in sorted(in_subtrees) if s not in groups]
    if bad:
        raise exceptions.BadRequest(
            "Real suffixes should be specified in `same_subtree`: %s not "
            "found in %s." % (bad, list(groups)),
            exceptions.QUERYPARAM_BAD_VALUE,
        )


def _check_orphans(groups):
    orphans = [
        "required%s" % s
        for s, g in groups.items()
        if g.required and not g.resources
    ]
    if orphans:
        raise exceptions.BadRequest(
            "All traits parameters must be associated with resources.  "
            "Found the following orphaned traits keys: %s" % ", ".join(orphans)
        )
    orphans = [
        "member_of%s" % s
        for s, g in groups.items()
        if not g.resources and (g.member_of or g.forbidden_aggs)
    ]
    if orphans:
        raise exceptions.BadRequest(
            "All member_of parameters must be associated with resources. "
            "Found the following orphaned member_of keys: %s"
            % ", ".join(orphans)
        )
    if not all(g.resources for g in groups.values()):
        raise exceptions.BadRequest(
            "All request groups must specify resources."
        )
    if not groups:
        raise exceptions.BadRequest(
            "At least one request group (`resources` or `resources{$S}`) "
            "is required."
        )


def _check_conflicts(groups):
    conflicts = []
    for suffix, group in groups.items():
        for any_of in group.required:
            if all(name in group.forbidden for name in any_of):
                conflicts.append(
                    "required%s: (%s)" % (suffix, ", ".join(sorted(any_of)))
                )
    if conflicts:
        raise exceptions.BadRequest(
            "Conflicting required and forbidden traits found in the "
            "following traits keys: %s" % ", ".join(sorted(conflicts))
        )
