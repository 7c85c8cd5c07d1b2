"""Schema of the GET /allotment/openapi.json query: which microversion."""

from allotment.api import microversion

QUERY = {
    "type": "object",
    "properties": {
        "microversion": {
            "type": "string",
            "enum": [*microversion.VERSIONS, "latest"],
        },
    },
    "additionalProperties": False,
}
