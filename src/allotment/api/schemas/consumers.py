"""Schema of the GET /allotment/consumers query string."""

from allotment.api.schemas import common

_EXTERNAL_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_UUID = {"type": "string", "format": "uuid"}

# The largest page one request may ask for, and the page size by default.
MAX_LIMIT = 1000

LIST_QUERY = {
    "type": "object",
    "properties": {
        "project_id": _EXTERNAL_ID,
        "user_id": _EXTERNAL_ID,
        "consumer_type": {
            "type": "string",
            "pattern": "%s|^unknown$" % common.CONSUMER_TYPE_PATTERN,
            "minLength": 1,
            "maxLength": 255,
        },
        "provider": _UUID,
        "updated_before": {"type": "string", "minLength": 1},
        "limit": {"type": "string", "pattern": "^[1-9][0-9]{0,5}$"},
        "marker": _UUID,
    },
    "additionalProperties": False,
}
