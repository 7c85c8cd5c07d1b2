"""Authentication: noauth2 and keystonemiddleware, and the request context.

Both strategies end with the same WSGI headers (``X-User-Id``,
``X-Project-Id``, ``X-Roles``, ``OpenStack-System-Scope``) from which an
oslo.context ``RequestContext`` is built for policy checks.
"""

import ipaddress

from keystonemiddleware import auth_token
from oslo_context import context as oslo_context

from allotment import exceptions

UNAUTHENTICATED_PATHS = ("/", "")


def noauth2_environ(environ):
    """Fill the identity headers from a noauth2 ``X-Auth-Token``.

    The token is ``USER[:PROJECT]``; the project defaults to the user. Roles
    come from ``X-Roles`` or are ``admin`` for the user ``admin``. Returns
    False when the request carries no token.
    """
    token = environ.get("HTTP_X_AUTH_TOKEN")
    if token is None:
        return False
    user_id, _sep, project_id = token.partition(":")
    project_id = project_id or user_id
    if "HTTP_X_ROLES" in environ:
        roles = environ["HTTP_X_ROLES"].split(",")
    elif user_id == "admin":
        roles = ["admin"]
    else:
        roles = []
    environ["HTTP_X_USER_ID"] = user_id
    if not environ.get("HTTP_OPENSTACK_SYSTEM_SCOPE"):
        environ["HTTP_X_TENANT_ID"] = project_id
    environ["HTTP_X_ROLES"] = ",".join(roles)
    return True


class NoAuth2Middleware:
    """Falcon middleware: 401 without a token, identity from the token.

    With ``console_prefix`` (``allotment serve`` with noauth2 bound to a
    loopback address), a request under it without a token, from a loopback
    address, is the noauth2 admin: a browser on the same machine can use
    the console, which sends no token."""

    def __init__(self, console_prefix=None):
        self.console_prefix = console_prefix

    def process_request(self, req, resp):
        if req.path in UNAUTHENTICATED_PATHS:
            return
        if self._local_console(req):
            req.env["HTTP_X_AUTH_TOKEN"] = "admin"
        if not noauth2_environ(req.env):
            raise exceptions.Unauthorized("")

    def _local_console(self, req):
        if not self.console_prefix or "HTTP_X_AUTH_TOKEN" in req.env:
            return False
        if not req.path.startswith(self.console_prefix):
            return False
        try:
            return ipaddress.ip_address(req.remote_addr).is_loopback
        except ValueError:
            return False


class ContextMiddleware:
    """Falcon middleware: build ``req.context.placement`` from the headers."""

    def process_request(self, req, resp):
        ctx = oslo_context.RequestContext.from_environ(
            req.env, request_id=req.context.request_id
        )
        if ctx.user_id is None and req.path not in UNAUTHENTICATED_PATHS:
            raise exceptions.Unauthorized("")
        req.context.placement = ctx


class KeystoneAuth(auth_token.AuthProtocol):
    """keystonemiddleware's auth_token, letting ``GET /`` through."""

    def __init__(self, app, conf):
        self._unauthenticated_app = app
        super().__init__(app, {"oslo_config_config": conf})

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "") in UNAUTHENTICATED_PATHS:
            return self._unauthenticated_app(environ, start_response)
        return super().__call__(environ, start_response)
