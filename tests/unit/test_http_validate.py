"""http.validate keeps each schema's validator: a schema is always checked
by its own, never by that of an earlier schema, even one built per call
(whose id Python may hand to the next), and whatever the number of them."""

import jsonschema

from allotment import exceptions
from allotment.api import http


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
