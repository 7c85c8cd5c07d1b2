"""Base class of the resource handlers."""

from allotment import exceptions


class Resource:
    """A Falcon resource bound to the shared services.

    ``OPTIONS`` is answered 405 (as for any method a route lacks) unless the
    CORS middleware answers a preflight first.
    """

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
