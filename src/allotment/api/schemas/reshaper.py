"""Schemas of POST /reshaper bodies (1.30, 1.34 and 1.38 forms)."""

import copy

from allotment.api.schemas import allocations
from allotment.api.schemas import common
from allotment.api.schemas import inventories


def _body(post_allocations):
    # Allocations may be empty: the moved inventory may have none.
    allocs = copy.deepcopy(post_allocations)
    allocs["minProperties"] = 0
    return {
        "type": "object",
        "properties": {
            "inventories": {
                "type": "object",
                "patternProperties": {
                    common.UUID_PATTERN: inventories.ALL,
                },
                "minProperties": 1,
                "additionalProperties": False,
            },
            "allocations": allocs,
        },
        "required": ["inventories", "allocations"],
        "additionalProperties": False,
    }


V1_30 = _body(allocations.POST_V1_28)
V1_34 = _body(allocations.POST_V1_34)
V1_38 = _body(allocations.POST_V1_38)


def for_version(version):
    if version.matches((1, 38)):
        return V1_38
    if version.matches((1, 34)):
        return V1_34
    return V1_30
