"""Schemas of the resource class bodies."""

from allotment.api.schemas import common

NAME_BODY = {
    "type": "object",
    "properties": {
        "name": {
            "type": "string",
            "pattern": common.CUSTOM_RC_PATTERN,
            "maxLength": 255,
        },
    },
    "required": ["name"],
    "additionalProperties": False,
}
