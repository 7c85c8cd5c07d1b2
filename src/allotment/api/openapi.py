"""The OpenAPI 3.1 description of the API, built from the server's records.

One document per microversion (``document(version)``): it has the routes of
``api/routes.py`` whose methods are served at that version (each resource
class's ``since``), with the query-string and body schemas the handlers
validate with at that version (its ``queries`` and ``bodies``; see
``api/resource.py``), taken as they are, not copied. Each document fixes the
``OpenStack-API-Version`` header to its version, so a tool that knows
OpenAPI alone (a validator, schemathesis) reads it as a plain API.

Extensions say where each piece holds: ``x-microversions`` on the document
lists every version; on an operation, the range it is served in; on a
request body or query parameter, the range in which that schema applies.
"""

import re

import allotment
from allotment.api import microversion
from allotment.api import routes

OPENAPI_VERSION = "3.1.0"
LATEST = "latest"
METHODS = ("get", "put", "post", "patch", "delete")
# The parameter holding the query keys that a schema matches by pattern
# (the suffixed request groups of GET /allocation_candidates), serialized
# as key=value pairs (form style, exploded).
PATTERN_KEYS_PARAMETER = "pattern_keys"

_PATH_PARAMETER = re.compile(r"{(\w+)}")

# The JSON error format of api/errors.py, as a description.
_ERROR = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer"},
                    "title": {"type": "string"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "request_id": {"type": "string"},
                },
                "required": ["status", "title", "detail", "request_id"],
            },
        },
    },
    "required": ["errors"],
}


def version_text(version):
    return "%d.%d" % version


def _span(gate, choices):
    """``{"min", "max"}``: the versions from ``gate`` up to the next newer
    gate of ``choices`` (newest first), or to the newest version."""
    gates = list(microversion.HISTORY)
    newer = [g for g, _ in choices if g > gate]
    last = gates[gates.index(min(newer)) - 1] if newer else gates[-1]
    return {"min": version_text(gate), "max": version_text(last)}


def _operation_id(method, path):
    words = re.findall(r"\w+", path)
    return "_".join([method, *words]) if words else method + "_root"


def _header(version):
    return {
        "name": microversion.HEADER,
        "in": "header",
        "required": True,
        "description": "The microversion this document describes.",
        "schema": {
            "type": "string",
            "const": "%s %s"
            % (microversion.SERVICE_TYPE, version_text(version)),
        },
    }


def _query_parameters(schema, span):
    """OpenAPI parameters for a query-string schema (an object schema of
    name -> value): one per named key, and one exploded object for the keys
    matched by pattern."""
    required = set(schema.get("required", ()))
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": value,
            "x-microversions": span,
        }
        for name, value in schema.get("properties", {}).items()
    ]
    if "patternProperties" in schema:
        parameters.append(
            {
                "name": PATTERN_KEYS_PARAMETER,
                "in": "query",
                "style": "form",
                "explode": True,
                "description": "Keys matched by pattern (request groups "
                "with a suffix), each given as key=value.",
                "schema": {
                    "type": "object",
                    "patternProperties": schema["patternProperties"],
                    "additionalProperties": False,
                },
                "x-microversions": span,
            }
        )
    return parameters


def _operation(resource_cls, method, path, version):
    verb = method.upper()
    since = resource_cls.since.get(verb, microversion.BASE)
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
        }
        for name in _PATH_PARAMETER.findall(path)
    ]
    parameters.append(_header(version))
    operation = {
        "operationId": _operation_id(method, path),
        "summary": "%s %s" % (verb, path),
        "x-microversions": {
            "min": version_text(since),
            "max": microversion.MAX_VERSION,
        },
        "parameters": parameters,
        "responses": {
            "default": {"description": "The answer (see the Placement API)."},
            "4XX": {
                "description": "Refused, in Placement's error format.",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
    }
    if verb in resource_cls.queries:
        choices = resource_cls.queries[verb]
        gate, schema = microversion.choose(version, choices)
        parameters += _query_parameters(schema, _span(gate, choices))
    if verb in resource_cls.bodies:
        choices = resource_cls.bodies[verb]
        gate, schema = microversion.choose(version, choices)
        if schema is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
                "x-microversions": _span(gate, choices),
            }
    if path == "/":
        operation["security"] = []
    return operation


def _served_at(resource_cls, method, version):
    return version >= resource_cls.since.get(method.upper(), microversion.BASE)


def operations(version):
    """(path, method, resource class) of each operation served at
    ``version``, in route-table order; method in lower case."""
    for path, resource_cls in routes.ROUTES:
        for method in METHODS:
            if hasattr(resource_cls, "on_" + method) and _served_at(
                resource_cls, method, version
            ):
                yield path, method, resource_cls


def document(version, server_url="/"):
    """The OpenAPI document of ``version`` (a (major, minor) tuple)."""
    paths = {}
    for path, method, resource_cls in operations(version):
        paths.setdefault(path, {})[method] = _operation(
            resource_cls, method, path, version
        )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OpenStack Placement API (allotment)",
            "version": version_text(version),
            "description": "The Placement API as allotment %s serves it at "
            "microversion %s. Each microversion has its own document: "
            "GET /allotment/openapi.json?microversion=1.N (default: the "
            "latest)." % (allotment.__version__, version_text(version)),
        },
        "servers": [{"url": server_url}],
        "x-microversions": {
            "this": version_text(version),
            "min": microversion.MIN_VERSION,
            "max": microversion.MAX_VERSION,
            "all": list(microversion.VERSIONS),
        },
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Auth-Token",
                }
            }
        },
        "security": [{"token": []}],
        "paths": paths,
    }


def parse_version(text):
    """``1.N`` (one of microversion.VERSIONS) or ``latest`` -> (1, N)."""
    if text == LATEST:
        text = microversion.MAX_VERSION
    major, minor = text.split(".")
    return int(major), int(minor)
