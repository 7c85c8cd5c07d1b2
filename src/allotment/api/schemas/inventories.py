"""Schemas of the inventory bodies: one inventory, and all of a provider's."""

from allotment.api.schemas import common

MAX_INT = 0x7FFFFFFF
# The largest single-precision float MySQL stores in a FLOAT column.
MAX_FLOAT = 3.40282e38


def _bounded_int(minimum):
    return {"type": "integer", "minimum": minimum, "maximum": MAX_INT}


_GENERATION = {"type": "integer"}

_FIELDS = {
    "total": _bounded_int(1),
    "reserved": _bounded_int(0),
    "min_unit": _bounded_int(1),
    "max_unit": _bounded_int(1),
    "step_size": _bounded_int(1),
    # What a FLOAT column holds; within it (total - reserved) * ratio stays
    # finite.
    "allocation_ratio": {
        "type": "number",
        "minimum": -MAX_FLOAT,
        "maximum": MAX_FLOAT,
    },
}

# PUT /resource_providers/{uuid}/inventories/{resource_class}
ONE = {
    "type": "object",
    "properties": dict(_FIELDS, resource_provider_generation=_GENERATION),
    "required": ["total", "resource_provider_generation"],
    "additionalProperties": False,
}

# POST /resource_providers/{uuid}/inventories (a generation is accepted but
# not checked, as in the reference)
NEW = {
    "type": "object",
    "properties": dict(
        _FIELDS,
        resource_provider_generation=_GENERATION,
        resource_class={"type": "string", "pattern": common.RC_PATTERN},
    ),
    "required": ["total", "resource_class"],
    "additionalProperties": False,
}

_RECORD = {
    "type": "object",
    "properties": dict(_FIELDS, resource_provider_generation=_GENERATION),
    "required": ["total"],
    "additionalProperties": False,
}

# PUT /resource_providers/{uuid}/inventories
ALL = {
    "type": "object",
    "properties": {
        "resource_provider_generation": _GENERATION,
        "inventories": {
            "type": "object",
            "patternProperties": {common.RC_PATTERN: _RECORD},
            # Under any other key too: an unknown class is refused by name
            # later, as in the reference.
            "additionalProperties": _RECORD,
        },
    },
    "required": ["resource_provider_generation", "inventories"],
    "additionalProperties": False,
}
