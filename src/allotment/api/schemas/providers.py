"""Schemas of the resource provider bodies and of the list query string,
per microversion."""

import copy

from allotment.api import microversion

_NAME = {"type": "string", "maxLength": 200}
_UUID = {"type": "string", "format": "uuid"}
_PARENT = {"anyOf": [_UUID, {"type": "null"}]}

POST_BODY = {
    "type": "object",
    "properties": {"name": _NAME, "uuid": _UUID},
    "required": ["name"],
    "additionalProperties": False,
}

# 1.14: a parent may be named at creation.
POST_BODY_1_14 = copy.deepcopy(POST_BODY)
POST_BODY_1_14["properties"]["parent_provider_uuid"] = _PARENT

PUT_BODY = {
    "type": "object",
    "properties": {"name": _NAME},
    "required": ["name"],
    "additionalProperties": False,
}

PUT_BODY_1_14 = copy.deepcopy(PUT_BODY)
PUT_BODY_1_14["properties"]["parent_provider_uuid"] = _PARENT

POST_BODIES = [
    (microversion.NESTED_PROVIDERS, POST_BODY_1_14),
    (microversion.BASE, POST_BODY),
]
PUT_BODIES = [
    (microversion.NESTED_PROVIDERS, PUT_BODY_1_14),
    (microversion.BASE, PUT_BODY),
]


def _list_query(**extra):
    properties = {"name": {"type": "string"}, "uuid": _UUID}
    properties.update(extra)
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


_STRING = {"type": "string"}

# GET /resource_providers query parameters, as (minimum version, schema),
# newest first.
LIST_QUERIES = [
    (
        microversion.LIST_REQUIRED,
        _list_query(
            member_of=_STRING,
            resources=_STRING,
            in_tree=_UUID,
            required=_STRING,
        ),
    ),
    (
        microversion.NESTED_PROVIDERS,
        _list_query(member_of=_STRING, resources=_STRING, in_tree=_UUID),
    ),
    (
        microversion.LIST_RESOURCES,
        _list_query(member_of=_STRING, resources=_STRING),
    ),
    (microversion.LIST_MEMBER_OF, _list_query(member_of=_STRING)),
    (microversion.BASE, _list_query()),
]
