"""Request and response helpers shared by the resource handlers.

Handlers stay thin: they read a validated body or query with these helpers,
call a domain operation, and send the result with ``send_json``.
"""

import datetime
import logging
import uuid

import falcon
import fastjsonschema
import jsonschema
import orjson

from allotment import exceptions
from allotment.api import microversion

LOG = logging.getLogger(__name__)

JSON = "application/json"

_FORMAT_CHECKER = jsonschema.FormatChecker()


@_FORMAT_CHECKER.checks("uuid")
def _is_uuid_format(value):
    return is_uuid_like(value)


def is_uuid_like(value):
    """True for a UUID in any form uuid.UUID accepts (the reference's rule:
    the value, hyphens removed and lower-cased, equals the canonical hex)."""
    try:
        return str(uuid.UUID(value)).replace("-", "") == (
            value.replace("-", "").lower()
        )
    except (TypeError, ValueError, AttributeError):
        return False


def authorize(req, action, target=None):
    """Check ``placement:<action>`` for the request's identity (403)."""
    req.context.services.policy.authorize(
        req.context.placement, "placement:" + action, target
    )


def authorize_allotment(req, action, target=None):
    """Check ``allotment:<action>``, a rule of allotment's own features."""
    req.context.services.policy.authorize(
        req.context.placement, "allotment:" + action, target
    )


def require_json_accept(req):
    """406 when the client explicitly accepts no JSON."""
    accept = req.get_header("Accept")
    if accept and not req.client_accepts(JSON):
        raise exceptions.NotAcceptable("Only %s is provided" % JSON)


def require_json_content(req):
    """415 unless the request body is declared as JSON (checked before
    anything else by handlers that take a body)."""
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if content_type != JSON:
        raise exceptions.UnsupportedMediaType(
            "The media type %s is not supported, use %s"
            % (content_type or "None", JSON)
        )


def body_too_large(limit):
    return exceptions.RequestTooLarge(
        "Request is too large: larger than max_request_body_size (%d bytes)."
        % limit
    )


def _read_body(req):
    """Content-Length bytes or, when the server de-chunks a chunked body
    (``wsgi.input_terminated``, as gunicorn does), the stream up to
    ``[oslo_middleware] max_request_body_size`` (413 beyond it)."""
    if req.content_length is not None or not req.env.get(
        "wsgi.input_terminated"
    ):
        return req.bounded_stream.read()
    limit = req.context.services.conf.oslo_middleware.max_request_body_size
    raw = req.stream.read(limit + 1)
    if len(raw) > limit:
        raise body_too_large(limit)
    return raw


def read_json(req, schema):
    """The request body, parsed as JSON and validated against ``schema``."""
    require_json_content(req)
    raw = _read_body(req)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise exceptions.BadRequest("Malformed JSON: %s" % exc) from None
    if b"\\u0000" in raw:
        raise exceptions.BadRequest(
            "NUL characters are not allowed in JSON strings."
        )
    validate(data, schema)
    return data


class _Validators:
    """A schema's validators: jsonschema's, the one record of what is
    valid and of every error message, and, from the schema's second use
    on, one compiled from the same schema by fastjsonschema that only
    decides. What it accepts is valid (it is never the more lenient of
    the two: tests/unit/test_http_validate.py compares them); what it
    refuses is checked again by jsonschema, which words the 400 (or finds
    it valid after all). Compiled schemas validate a claim's body about
    ten times faster; compiling costs milliseconds, so a schema built per
    call (``{}``) is never compiled."""

    __slots__ = ("fast", "validator")

    def __init__(self, schema):
        self.validator = jsonschema.validators.validator_for(schema)(
            schema, format_checker=_FORMAT_CHECKER
        )
        self.fast = None  # not compiled yet; False: cannot be

    def compile(self):
        try:
            self.fast = fastjsonschema.compile(
                self.validator.schema,
                formats={"uuid": is_uuid_like},
                use_default=False,
            )
        except Exception:  # a schema it cannot compile: jsonschema alone
            LOG.debug("schema not compiled", exc_info=True)
            self.fast = False


# id(schema) -> its _Validators. They hold the schema, so the id cannot
# pass to another object while the entry exists; schemas built per call
# (``{}``) only refill the cache, emptied past _VALIDATORS_KEPT.
_VALIDATORS = {}
_VALIDATORS_KEPT = 64


def _validators(schema):
    """The validators of ``schema``, built once rather than per request
    (building one resolves its references and keywords anew: about a
    tenth of the cost of validating a claim's body with jsonschema)."""
    validators = _VALIDATORS.get(id(schema))
    if validators is None:
        validators = _Validators(schema)
        if len(_VALIDATORS) >= _VALIDATORS_KEPT:
            _VALIDATORS.clear()
        _VALIDATORS[id(schema)] = validators
    elif validators.fast is None:
        validators.compile()
    return validators


def _check(data, schema):
    """jsonschema.validate without re-checking the (trusted, static) schema
    against its metaschema on every request, which costs milliseconds."""
    validators = _validators(schema)
    if validators.fast:
        try:
            validators.fast(data)
            return
        except fastjsonschema.JsonSchemaException:
            pass
    error = jsonschema.exceptions.best_match(
        validators.validator.iter_errors(data)
    )
    if error is not None:
        raise error


def validate(data, schema, prefix="JSON does not validate"):
    try:
        _check(data, schema)
    except jsonschema.ValidationError as exc:
        raise exceptions.BadRequest("%s: %s" % (prefix, exc)) from None


def query_lists(req):
    """Query parameters as name -> list of values, in request order."""
    result = {}
    for name, value in req.params.items():
        result[name] = value if isinstance(value, list) else [value]
    return result


def reject_repeated(lists, repeatable=()):
    """400 ``placement.query.duplicate_key`` for the first key of ``lists``
    (name -> list of values) given more than once, unless it is one of
    ``repeatable`` (or matched by it, when it is a callable)."""
    allowed = (
        repeatable
        if callable(repeatable)
        else (lambda name: name in repeatable)
    )
    for name, values in lists.items():
        if len(values) > 1 and not allowed(name):
            raise exceptions.BadRequest(
                "Query parameter '%s' may be specified only once." % name,
                exceptions.ILLEGAL_DUPLICATE_QUERYPARAM,
            )


def validate_query(req, schema, repeatable=()):
    """Validate the query (last value of each key) against ``schema``;
    keys other than ``repeatable`` may be given once only (400).

    Returns the query as a name -> value dict.
    """
    lists = query_lists(req)
    params = {name: values[-1] for name, values in lists.items()}
    try:
        _check(params, schema)
    except jsonschema.ValidationError as exc:
        raise exceptions.BadRequest(
            "Invalid query string parameters: %s" % exc
        ) from None
    reject_repeated(lists, repeatable)
    return params


def send_json(req, resp, body, status=200, last_modified=None):
    """Send ``body`` as JSON; from 1.15 GETs carry cache headers."""
    send_json_bytes(req, resp, orjson.dumps(body), status, last_modified)


def send_json_bytes(req, resp, data, status=200, last_modified=None):
    """Send ``data``, a body already serialized as JSON (see send_json)."""
    resp.status = status
    resp.content_type = JSON
    resp.data = data
    if req.context.microversion.matches(microversion.CACHE_HEADERS):
        set_cache_headers(resp, last_modified)


def send_empty(req, resp, status=204, last_modified=None):
    resp.status = status
    resp.content_type = None
    if last_modified and req.context.microversion.matches(
        microversion.CACHE_HEADERS
    ):
        set_cache_headers(resp, last_modified)


def set_cache_headers(resp, last_modified=None):
    when = last_modified or datetime.datetime.now(datetime.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    resp.set_header("Last-Modified", falcon.dt_to_http(when))
    resp.set_header("Cache-Control", "no-cache")


def latest(*stamps):
    """The most recent of the non-empty time stamps, or None."""
    values = [s for s in stamps if s is not None]
    return max(values) if values else None


def url(req, path):
    """``path`` under the application's mount point (SCRIPT_NAME)."""
    return (req.root_path or "") + path
