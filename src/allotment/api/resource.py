"""Base class of the resource handlers, and the record of what each method
of a route takes at each microversion.

A resource class says, per HTTP method, from which microversion it is
served (``since``) and which JSON schemas its body and query string are
validated with at each microversion (``bodies``, ``queries``: lists of
(gate, schema), newest gate first, as ``microversion.pick`` takes them).
Handlers validate with these records and api/openapi.py describes the API
from them, so the description cannot drift from what is enforced.
"""

import types
from collections.abc import Mapping
from typing import ClassVar

from allotment import exceptions
from allotment.api import microversion


def per_method(**by_method):
    """A read-only record keyed by HTTP method: ``per_method(GET=...)``."""
    return types.MappingProxyType(by_method)


def always(schema):
    """A versioned schema list for a schema that no microversion changed."""
    return [(microversion.BASE, schema)]


class Resource:
    """A Falcon resource bound to the shared services.

    ``OPTIONS`` is answered 405 (as for any method a route lacks) unless the
    CORS middleware answers a preflight first.
    """

    # Method -> the microversion gate from which it is served (BASE when
    # absent).
    since: ClassVar[Mapping] = per_method()
    # Method -> [(gate, body schema or None for no body)], newest first.
    bodies: ClassVar[Mapping] = per_method()
    # Method -> [(gate, query-string schema)], newest first.
    queries: ClassVar[Mapping] = per_method()

    def __init__(self, services):
        self.services = services
        self.db = services.db
        self.conf = services.conf

    def on_options(self, req, resp, **params):
        raise exceptions.MethodNotAllowed(
            "The method specified is not allowed for this resource.",
            headers={"Allow": ", ".join(self.allowed_methods())},
        )

    def allowed_methods(self):
        return [
            m
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
            if hasattr(self, "on_" + m.lower())
        ]

    def require_version(self, req, refuse=exceptions.NotFound):
        """Refuse (404 unless ``refuse`` says otherwise) a request below
        the microversion this method is served from."""
        microversion.require(
            req, self.since.get(req.method, microversion.BASE), refuse
        )

    def body_schema(self, req):
        """The body schema of this method at the request's microversion."""
        return microversion.pick(
            req.context.microversion, self.bodies[req.method]
        )

    def query_schema(self, req):
        """The query schema of this method at the request's microversion."""
        return microversion.pick(
            req.context.microversion, self.queries[req.method]
        )
