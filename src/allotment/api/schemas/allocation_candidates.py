"""Query-string schemas of GET /allocation_candidates, per microversion.

The keys and patterns match the reference so that jsonschema words its
errors ("'limit' was unexpected", "does not match any of the regexes")
the same way.
"""

import copy

from allotment.api import microversion
from allotment.api.schemas import common

_GROUP_KEY = "^%s(" + common.GROUP_SUFFIX_PATTERN + ")?$"
_GROUP_KEY_1_33 = "^%s(" + common.GROUP_SUFFIX_PATTERN_1_33 + ")?$"

GET_1_10 = {
    "type": "object",
    "properties": {"resources": {"type": "string"}},
    "required": ["resources"],
    "additionalProperties": False,
}

GET_1_16 = copy.deepcopy(GET_1_10)
GET_1_16["properties"]["limit"] = {
    "type": ["integer", "string"],
    "pattern": "^[1-9][0-9]*$",
    "minimum": 1,
    "minLength": 1,
}

GET_1_17 = copy.deepcopy(GET_1_16)
GET_1_17["properties"]["required"] = {"type": ["string"]}

GET_1_21 = copy.deepcopy(GET_1_17)
GET_1_21["properties"]["member_of"] = {"type": ["string"]}

GET_1_25 = copy.deepcopy(GET_1_21)
for _key in ("resources", "required", "member_of"):
    del GET_1_25["properties"][_key]
del GET_1_25["required"]
GET_1_25["patternProperties"] = {
    _GROUP_KEY % key: {"type": "string"}
    for key in ("resources", "required", "member_of")
}
GET_1_25["properties"]["group_policy"] = {
    "type": "string",
    "enum": ["none", "isolate"],
}

GET_1_31 = copy.deepcopy(GET_1_25)
GET_1_31["patternProperties"][_GROUP_KEY % "in_tree"] = {"type": "string"}

GET_1_33 = copy.deepcopy(GET_1_31)
GET_1_33["patternProperties"] = {
    _GROUP_KEY_1_33 % key: {"type": "string"}
    for key in ("resources", "required", "member_of", "in_tree")
}

GET_1_35 = copy.deepcopy(GET_1_33)
GET_1_35["properties"]["root_required"] = {"type": ["string"]}

GET_1_36 = copy.deepcopy(GET_1_35)
GET_1_36["properties"]["same_subtree"] = {"type": ["string"]}

BY_VERSION = [
    (microversion.SAME_SUBTREE, GET_1_36),
    (microversion.ROOT_REQUIRED, GET_1_35),
    (microversion.ANY_SUFFIX, GET_1_33),
    (microversion.CANDIDATES_IN_TREE, GET_1_31),
    (microversion.GRANULAR_GROUPS, GET_1_25),
    (microversion.CANDIDATES_MEMBER_OF, GET_1_21),
    (microversion.CANDIDATES_REQUIRED, GET_1_17),
    (microversion.CANDIDATES_LIMIT, GET_1_16),
    (microversion.BASE, GET_1_10),
]


def for_version(version):
    """The query schema that applies at ``version``."""
    return microversion.pick(version, BY_VERSION)
