"""The OpenAPI documents: one per microversion, each describing exactly the
routes and methods of the router served at that version, with the very
schemas the handlers validate with, and each a valid OpenAPI 3.1 document
(openapi-spec-validator)."""

import falcon
import orjson
import pytest
from openapi_spec_validator import validate

from allotment.api import microversion
from allotment.api import openapi
from allotment.api import routes

VERSIONS = [openapi.parse_version(text) for text in microversion.VERSIONS]


class _Services:
    conf = db = policy = None


def _router_operations():
    """(path, method, resource class) of every route and method Falcon
    routes, OPTIONS aside: no route answers it (405, or the CORS
    middleware's preflight), so it is no operation to describe."""
    for path, resource_cls in routes.ROUTES:
        responders = falcon.routing.map_http_methods(resource_cls(_Services))
        for method in responders:
            if method != "OPTIONS":
                yield path, method.lower(), resource_cls


def _described(document):
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
    }


@pytest.mark.parametrize("version", VERSIONS, ids=microversion.VERSIONS)
def test_a_document_is_valid_openapi(version):
    # As a client receives it: plain JSON.
    document = orjson.loads(orjson.dumps(openapi.document(version)))
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["version"] == openapi.version_text(version)


def test_the_latest_document_covers_every_route_and_method_and_no_more():
    router = {(path, method) for path, method, _ in _router_operations()}
    latest = openapi.document(VERSIONS[-1])
    assert _described(latest) == router
    assert list(latest["paths"]) == [path for path, _ in routes.ROUTES]


@pytest.mark.parametrize("version", VERSIONS, ids=microversion.VERSIONS)
def test_a_document_has_the_methods_served_at_its_version(version):
    expected = {
        (path, method)
        for path, method, resource_cls in _router_operations()
        if version >= resource_cls.since.get(method.upper(), microversion.BASE)
    }
    assert _described(openapi.document(version)) == expected


def test_methods_appear_at_their_microversion():
    one_zero = _described(openapi.document(VERSIONS[0]))
    assert ("/resource_providers", "get") in one_zero
    assert ("/traits", "get") not in one_zero
    assert ("/resource_providers/{uuid}/inventories", "delete") not in (
        one_zero
    )
    assert ("/reshaper", "post") not in _described(
        openapi.document(microversion.CONSUMER_GENERATION)
    )
    assert ("/reshaper", "post") in _described(
        openapi.document(microversion.RESHAPER)
    )


def _operation(version, path, method):
    return openapi.document(version)["paths"][path][method]


def _body(operation):
    return operation["requestBody"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("version", VERSIONS, ids=microversion.VERSIONS)
def test_bodies_and_queries_are_the_schemas_the_server_validates_with(
    version,
):
    for path, method, resource_cls in openapi.operations(version):
        operation = _operation(version, path, method)
        verb = method.upper()
        if verb in resource_cls.bodies:
            schema = microversion.pick(version, resource_cls.bodies[verb])
            if schema is None:
                assert "requestBody" not in operation
            else:
                # The same object, not a copy of it.
                assert _body(operation) is schema
        else:
            assert "requestBody" not in operation
        queries = [p for p in operation["parameters"] if p["in"] == "query"]
        if verb in resource_cls.queries:
            schema = microversion.pick(version, resource_cls.queries[verb])
            named = {p["name"]: p["schema"] for p in queries}
            for name, value in schema.get("properties", {}).items():
                assert named[name] is value
            if "patternProperties" in schema:
                pattern = named[openapi.PATTERN_KEYS_PARAMETER]
                assert (
                    pattern["patternProperties"] is schema["patternProperties"]
                )
        else:
            assert queries == []


def test_each_document_fixes_the_microversion_header():
    operation = _operation(microversion.RESHAPER, "/reshaper", "post")
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"].lower() == "openstack-api-version"
    assert header["required"] is True
    assert header["schema"]["const"] == "placement 1.30"


def test_schema_variants_say_which_microversions_they_hold_for():
    path = "/allocations/{consumer_uuid}"
    spans = {
        text: _operation(openapi.parse_version(text), path, "put")[
            "requestBody"
        ]["x-microversions"]
        for text in ("1.0", "1.12", "1.27", "1.28", "1.39")
    }
    assert spans == {
        "1.0": {"min": "1.0", "max": "1.7"},
        "1.12": {"min": "1.12", "max": "1.27"},
        "1.27": {"min": "1.12", "max": "1.27"},
        "1.28": {"min": "1.28", "max": "1.33"},
        "1.39": {"min": "1.38", "max": "1.39"},
    }
    assert _operation(VERSIONS[-1], "/reshaper", "post")[
        "x-microversions"
    ] == {"min": "1.30", "max": "1.39"}


def test_the_candidates_query_has_its_suffixed_groups():
    operation = _operation(VERSIONS[-1], "/allocation_candidates", "get")
    named = {p["name"]: p for p in operation["parameters"]}
    assert {"limit", "group_policy", "root_required", "same_subtree"} <= set(
        named
    )
    groups = named[openapi.PATTERN_KEYS_PARAMETER]
    assert groups["style"] == "form" and groups["explode"] is True
    assert len(groups["schema"]["patternProperties"]) == 4
    # Before 1.25 resources is a plain, required key.
    old = _operation(
        openapi.parse_version("1.10"), "/allocation_candidates", "get"
    )
    assert [(p["name"], p["required"]) for p in old["parameters"][1:]] == [
        ("resources", True)
    ]
