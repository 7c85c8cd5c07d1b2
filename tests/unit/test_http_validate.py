"""http.validate keeps each schema's validator: a schema is always checked
by its own, never by that of an earlier schema, even one built per call
(whose id Python may hand to the next), and whatever the number of them.
The validator compiled from a schema (fastjsonschema) never accepts what
jsonschema refuses, and the 400s are jsonschema's words either way."""

import copy
import functools
import importlib
import pkgutil

import fastjsonschema
import jsonschema
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from allotment import exceptions
from allotment.api import http
from allotment.api import schemas as schemas_package
from allotment.api.schemas.common import UUID_PATTERN


def _expected(data, schema):
    """The 400 detail jsonschema's own best match gives."""
    validator = jsonschema.validators.validator_for(schema)(
        schema, format_checker=http._FORMAT_CHECKER
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    return "JSON does not validate: %s" % error


def _outcome(data, schema):
    """The 400 detail of validating ``data``, None when it is valid (and
    no reference to ``schema`` left behind)."""
    try:
        http.validate(data, schema)
    except exceptions.BadRequest as exc:
        return exc.detail
    return None


def test_schemas_built_per_call_use_their_own_validator():
    for limit in range(3 * http._VALIDATORS_KEPT):
        schema = {"type": "integer", "maximum": limit}
        assert _outcome(limit, schema) is None
        assert _outcome(limit + 1, schema) == _expected(limit + 1, schema)


def test_a_kept_validator_gives_the_same_error_as_a_new_one():
    schema = {
        "type": "object",
        "properties": {"uuid": {"type": "string", "format": "uuid"}},
        "required": ["uuid"],
        "additionalProperties": False,
    }
    for data in ({"uuid": "nope"}, {}, {"uuid": "x", "extra": 1}, []):
        for _ in range(2):
            assert _outcome(data, schema) == _expected(data, schema)
    assert (
        _outcome({"uuid": "4e8e5957-649f-477b-9e5b-f1f75b21c03c"}, schema)
        is None
    )


# Every schema of the API: module-level schemas of allotment.api.schemas.
def _api_schemas():
    found = {}
    for info in pkgutil.iter_modules(schemas_package.__path__):
        module = importlib.import_module(
            "%s.%s" % (schemas_package.__name__, info.name)
        )
        for name, value in vars(module).items():
            if name.startswith("__"):
                continue
            if isinstance(value, dict) and (
                "type" in value or "anyOf" in value
            ):
                found["%s.%s" % (info.name, name)] = value
    return found


SCHEMAS = _api_schemas()

ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**33), 2**33)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _rarely(usual, unusual):
    """``usual``, and one time in twenty ``unusual`` (a near miss)."""
    return st.integers(0, 19).flatmap(
        lambda n: unusual if n == 7 else usual  # (not a bound: favoured)
    )


def _uuids():
    """UUIDs in the forms clients send, and now and then a near miss."""

    def forms(*changes):
        return st.tuples(st.uuids().map(str), st.sampled_from(changes)).map(
            lambda pair: pair[1](pair[0])
        )

    return _rarely(
        forms(lambda u: u, str.upper, lambda u: u.replace("-", "")),
        forms(
            lambda u: "{%s}" % u,
            lambda u: u + "\n",
            lambda u: u[:-1] + "g",
            lambda u: u[:8] + u[9:] + "-",
        ),
    )


def _strings(schema):
    if schema.get("format") == "uuid":
        return _uuids()
    if "pattern" in schema:
        return st.from_regex(schema["pattern"])
    low = schema.get("minLength", 0)
    high = schema.get("maxLength", low + 8)
    return _rarely(
        st.text(min_size=low, max_size=min(high, low + 20)),
        st.text(min_size=max(0, low - 1), max_size=min(high + 1, 300)),
    )


def _integers(schema):
    low = schema.get("minimum", -5)
    high = schema.get("maximum", 2**31)
    return _rarely(
        st.integers(low, high),
        st.integers(low - 1, low + 2).map(float) | st.just(low - 1),
    )


def _objects(schema):
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    parts = [
        st.fixed_dictionaries(
            {k: near(v) for k, v in properties.items() if k in required},
            optional={
                k: near(v) for k, v in properties.items() if k not in required
            },
        )
    ]
    least = schema.get("minProperties", 0)
    for pattern, sub in schema.get("patternProperties", {}).items():
        keys = _uuids() if pattern == UUID_PATTERN else st.from_regex(pattern)
        parts.append(
            _rarely(
                st.dictionaries(keys, near(sub), min_size=least, max_size=3),
                st.dictionaries(keys, near(sub), max_size=3),
            )
        )
    extra = st.dictionaries(st.text(max_size=4), ANY_JSON, max_size=2)
    if schema.get("additionalProperties") is False:
        extra = _rarely(st.just({}), extra)  # a key it does not allow
    parts.append(extra)

    def merged(dicts):
        result = {}
        for d in reversed(dicts):
            result.update(d)
        return result

    return st.tuples(*parts).map(merged)


def _shaped(schema):
    if "anyOf" in schema:
        return st.one_of([near(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    strategies = []
    for kind in kinds:
        if kind == "object":
            strategies.append(_objects(schema))
        elif kind == "array":
            low = schema.get("minItems", 0)
            strategies.append(
                st.lists(near(schema.get("items", {})), max_size=low + 2)
            )
        elif kind == "string":
            strategies.append(_strings(schema))
        elif kind == "integer":
            strategies.append(_integers(schema))
        elif kind == "number":
            strategies.append(_integers(schema) | st.floats(-1e6, 1e6))
        elif kind == "boolean":
            strategies.append(st.booleans())
        elif kind == "null":
            strategies.append(st.none())
    return st.one_of(strategies) if strategies else ANY_JSON


def near(schema):
    """Values of ``schema``'s shape, valid or nearly, and now and then any
    JSON value at all."""
    return _rarely(_shaped(schema), ANY_JSON)


def test_every_api_schema_compiles():
    assert len(SCHEMAS) > 30
    for name, schema in SCHEMAS.items():
        validators = http._Validators(schema)
        validators.compile()
        assert validators.fast, name


@functools.cache
def _compiled(name):
    validators = http._Validators(SCHEMAS[name])
    validators.compile()
    return validators


@pytest.mark.parametrize("name", sorted(SCHEMAS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_compiled_check_never_accepts_what_jsonschema_refuses(name, data):
    """What the compiled validator accepts, jsonschema accepts; and what
    http.validate answers (the 400's detail, or nothing) is jsonschema's
    best match whichever decided."""
    schema = SCHEMAS[name]
    value = data.draw(near(schema))
    fast = _compiled(name)
    error = jsonschema.exceptions.best_match(fast.validator.iter_errors(value))
    valid = error is None
    try:
        fast.fast(copy.deepcopy(value))
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        assert valid, value
    for _ in range(2):  # built, then compiled on its second use
        assert _outcome(value, schema) == (
            None if valid else "JSON does not validate: %s" % error
        )
