"""Schemas of the GET /usages query (consumer_type from 1.38)."""

from allotment.api import microversion
from allotment.api.schemas import common

_EXTERNAL_ID = {"type": "string", "minLength": 1, "maxLength": 255}

QUERY_1_9 = {
    "type": "object",
    "properties": {
        "project_id": _EXTERNAL_ID,
        "user_id": _EXTERNAL_ID,
    },
    "required": ["project_id"],
    "additionalProperties": False,
}

QUERY_1_38 = dict(
    QUERY_1_9,
    properties=dict(
        QUERY_1_9["properties"],
        consumer_type={
            "type": "string",
            "pattern": common.CONSUMER_TYPE_GET_PATTERN,
            "minLength": 1,
            "maxLength": 255,
        },
    ),
)

QUERIES = [
    (microversion.CONSUMER_TYPES, QUERY_1_38),
    (microversion.BASE, QUERY_1_9),
]
