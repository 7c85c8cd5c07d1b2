"""Schemas of the provider aggregates body: a plain list of UUIDs before
1.19, then an object carrying the provider generation too."""

from allotment.api import microversion

_UUID_LIST = {
    "type": "array",
    "items": {"type": "string", "format": "uuid"},
    "uniqueItems": True,
}

PUT_BODY = _UUID_LIST

PUT_BODY_1_19 = {
    "type": "object",
    "properties": {
        "aggregates": _UUID_LIST,
        "resource_provider_generation": {"type": "integer"},
    },
    "required": ["aggregates", "resource_provider_generation"],
    "additionalProperties": False,
}

PUT_BODIES = [
    (microversion.AGGREGATES_GENERATION, PUT_BODY_1_19),
    (microversion.BASE, PUT_BODY),
]
