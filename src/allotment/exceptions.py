"""The error every layer raises, with Placement's error codes.

A ``PlacementError`` carries the HTTP status the API answers with, the detail
message, and a Placement error ``code`` (shown to clients from microversion
1.23); ``api/errors.py`` renders it.

The one way to give a client an error: raise the subclass named for the
status, ``raise exceptions.BadRequest(detail, exceptions.SOME_CODE)`` (or a
domain subclass of it that callers may catch to reword). Every layer does
the same; nothing else builds error responses, except the API's handlers of
Falcon's own errors and unexpected exceptions (``api/app.py``).
"""

DEFAULT = "placement.undefined_code"
INVENTORY_INUSE = "placement.inventory.inuse"
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
PROVIDER_CANNOT_DELETE_PARENT = (
    "placement.resource_provider.cannot_delete_parent"
)
RESOURCE_PROVIDER_NOT_FOUND = "placement.resource_provider.not_found"
ILLEGAL_DUPLICATE_QUERYPARAM = "placement.query.duplicate_key"
QUERYPARAM_BAD_VALUE = "placement.query.bad_value"
QUERYPARAM_MISSING_VALUE = "placement.query.missing_value"


class PlacementError(Exception):
    """An error with an HTTP status, a detail message and an error code."""

    status = 500

    def __init__(self, detail="", code=DEFAULT, headers=None):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.headers = headers or {}


class BadRequest(PlacementError):
    status = 400


class Unauthorized(PlacementError):
    status = 401


class Forbidden(PlacementError):
    status = 403


class NotFound(PlacementError):
    status = 404


class MethodNotAllowed(PlacementError):
    status = 405


class NotAcceptable(PlacementError):
    status = 406


class Conflict(PlacementError):
    status = 409


class UnsupportedMediaType(PlacementError):
    status = 415


class RequestTooLarge(PlacementError):
    status = 413


class ServiceUnavailable(PlacementError):
    """Not now: the request may succeed if retried (``Retry-After``)."""

    status = 503


class ConcurrentUpdate(Conflict):
    """Another writer changed a provider or consumer generation first."""

    def __init__(self, detail=None):
        super().__init__(
            detail
            or "Another thread concurrently updated the data. "
            "Please retry your update",
            CONCURRENT_UPDATE,
        )
