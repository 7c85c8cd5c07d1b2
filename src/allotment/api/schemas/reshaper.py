"""Schemas of POST /reshaper bodies (1.30, 1.34 and 1.38 forms)."""

import copy

from allotment.api import microversion
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


POST_1_30 = _body(allocations.POST_1_28)
POST_1_34 = _body(allocations.POST_1_34)
POST_1_38 = _body(allocations.POST_1_38)


BY_VERSION = [
    (microversion.CONSUMER_TYPES, POST_1_38),
    (microversion.MAPPINGS, POST_1_34),
    (microversion.BASE, POST_1_30),
]
