"""Schemas of allocation bodies: PUT /allocations/{consumer_uuid} in each
microversion form, and POST /allocations (from 1.13).

Each later form is derived from an earlier one, so the differences between
microversions read as the list of steps below.
"""

import copy

from allotment.api import microversion
from allotment.api.schemas import common

_EXTERNAL_ID = {"type": "string", "minLength": 1, "maxLength": 255}

_RESOURCES = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {
        common.RC_PATTERN: {"type": "integer", "minimum": 1},
    },
    "additionalProperties": False,
}

_GENERATION = {"type": ["integer", "null"], "additionalProperties": False}

# 1.0 to 1.7: a list of {resource_provider: {uuid}, resources}.
PUT_1_0 = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "resource_provider": {
                        "type": "object",
                        "properties": {
                            "uuid": {"type": "string", "format": "uuid"},
                        },
                        "additionalProperties": False,
                        "required": ["uuid"],
                    },
                    "resources": _RESOURCES,
                },
                "required": ["resource_provider", "resources"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["allocations"],
    "additionalProperties": False,
}

# 1.8: project_id and user_id become required.
PUT_1_8 = copy.deepcopy(PUT_1_0)
PUT_1_8["properties"]["project_id"] = _EXTERNAL_ID
PUT_1_8["properties"]["user_id"] = _EXTERNAL_ID
PUT_1_8["required"] += ["project_id", "user_id"]

# 1.12: allocations keyed by provider uuid, as GET shows them.
PUT_1_12 = {
    "type": "object",
    "properties": {
        "allocations": {
            "type": "object",
            "minProperties": 1,
            "patternProperties": {
                common.UUID_PATTERN: {
                    "type": "object",
                    "properties": {
                        "generation": {"type": "integer"},
                        "resources": _RESOURCES,
                    },
                    "required": ["resources"],
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "project_id": _EXTERNAL_ID,
        "user_id": _EXTERNAL_ID,
    },
    "additionalProperties": False,
    "required": ["allocations", "project_id", "user_id"],
}

# The 1.12 form with empty allocations allowed (removal), used by POST.
_DELETABLE = copy.deepcopy(PUT_1_12)
_DELETABLE["properties"]["allocations"]["minProperties"] = 0

POST_1_13 = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "patternProperties": {common.UUID_PATTERN: _DELETABLE},
}

# 1.28: consumer_generation is required (null for a new consumer) and
# empty allocations remove the consumer's allocations.
PUT_1_28 = copy.deepcopy(_DELETABLE)
PUT_1_28["properties"]["consumer_generation"] = _GENERATION
PUT_1_28["required"].append("consumer_generation")

POST_1_28 = copy.deepcopy(POST_1_13)
POST_1_28["patternProperties"] = {common.UUID_PATTERN: PUT_1_28}

# 1.34: an optional "mappings" object (request group suffix -> provider
# uuids) is accepted and not stored.
_MAPPINGS = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {
        common.GROUP_SUFFIX_PATTERN_1_33: {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "format": "uuid"},
        },
    },
}
PUT_1_34 = copy.deepcopy(PUT_1_28)
PUT_1_34["properties"]["mappings"] = _MAPPINGS
POST_1_34 = copy.deepcopy(POST_1_28)
POST_1_34["patternProperties"] = {common.UUID_PATTERN: PUT_1_34}

# 1.38: consumer_type is required.
PUT_1_38 = copy.deepcopy(PUT_1_34)
PUT_1_38["properties"]["consumer_type"] = {
    "type": "string",
    "pattern": common.CONSUMER_TYPE_PATTERN,
    "minLength": 1,
    "maxLength": 255,
}
PUT_1_38["required"].append("consumer_type")
POST_1_38 = copy.deepcopy(POST_1_34)
POST_1_38["patternProperties"] = {common.UUID_PATTERN: PUT_1_38}


PUT_BY_VERSION = [
    (microversion.CONSUMER_TYPES, PUT_1_38),
    (microversion.MAPPINGS, PUT_1_34),
    (microversion.CONSUMER_GENERATION, PUT_1_28),
    (microversion.ALLOCATIONS_DICT, PUT_1_12),
    (microversion.ALLOCATION_OWNER, PUT_1_8),
    (microversion.BASE, PUT_1_0),
]
POST_BY_VERSION = [
    (microversion.CONSUMER_TYPES, POST_1_38),
    (microversion.MAPPINGS, POST_1_34),
    (microversion.CONSUMER_GENERATION, POST_1_28),
    (microversion.BASE, POST_1_13),
]
