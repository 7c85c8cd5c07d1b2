"""Schemas of the trait bodies and of the GET /traits query."""

from allotment.api.schemas import common

TRAIT = {"type": "string", "minLength": 1, "maxLength": 255}

CUSTOM_TRAIT = dict(TRAIT, pattern=common.CUSTOM_TRAIT_PATTERN)

# PUT /resource_providers/{uuid}/traits
PROVIDER_TRAITS = {
    "type": "object",
    "properties": {
        "traits": {"type": "array", "items": TRAIT},
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["traits", "resource_provider_generation"],
    "additionalProperties": False,
}

LIST_QUERY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "associated": {"type": "string"},
    },
    "additionalProperties": False,
}
