"""The WSGI application: Falcon app, middleware chain, error handlers.

``build(conf)`` returns the WSGI callable for a ConfigOpts. The chain, outer
first: CORS (when ``[cors] allowed_origin`` is set), keystone auth_token
(``auth_strategy = keystone``), then the Falcon app whose middleware assigns
the request id, authenticates noauth2 tokens, builds the policy context and
negotiates the microversion.
"""

import logging
import time
import uuid

import falcon
from oslo_middleware import cors as oslo_cors
from oslo_middleware import http_proxy_to_wsgi
from sqlalchemy import exc as sa_exc

from allotment import exceptions
from allotment import metrics
from allotment.api import auth
from allotment.api import console
from allotment.api import errors
from allotment.api import health
from allotment.api import http
from allotment.api import microversion
from allotment.api import policy
from allotment.api import routes
from allotment.api.resources import metrics as metrics_resource
from allotment.candidates import snapshot
from allotment.storage import engine
from allotment.storage import migrations
from allotment.storage import standard_rows

LOG = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-openstack-request-id"


class Services:
    """What handlers need beyond the request: config, database, policy."""

    def __init__(self, conf, database, policy_):
        self.conf = conf
        self.db = database
        self.policy = policy_


REQUEST_LOG = logging.getLogger("allotment.requests")


class RequestIdMiddleware:
    """Gives each request its id, and logs each answer (one INFO line:
    request id, client address, request line, status, microversion,
    duration, and the authenticated project and user, ``-`` before
    authentication; never a token); counts it for the metrics."""

    def __init__(self, services):
        self.services = services

    def process_request(self, req, resp):
        req.context.request_id = "req-" + str(uuid.uuid4())
        req.context.services = self.services
        req.context.microversion = None
        req.context.started = time.monotonic()

    def process_response(self, req, resp, resource, req_succeeded):
        resp.set_header(REQUEST_ID_HEADER, req.context.request_id)
        seconds = time.monotonic() - req.context.started
        metrics.request(
            req.uri_template,
            req.method,
            resp.status_code,
            req.context.microversion,
            seconds,
        )
        if REQUEST_LOG.isEnabledFor(logging.INFO):
            identity = getattr(req.context, "placement", None)
            REQUEST_LOG.info(
                '%s %s "%s %s%s" status: %s microversion: %s time: %.1f ms '
                "project: %s user: %s",
                req.context.request_id,
                req.remote_addr,
                req.method,
                req.path,
                "?" + req.query_string if req.query_string else "",
                resp.status_code,
                req.context.microversion,
                seconds * 1000,
                getattr(identity, "project_id", None) or "-",
                getattr(identity, "user_id", None) or "-",
            )
        location = resp.location
        if location and location.startswith("/"):
            # Clients of the reference get absolute Location headers.
            resp.location = "%s://%s%s" % (req.scheme, req.netloc, location)


class MicroversionMiddleware:
    def process_request(self, req, resp):
        req.context.microversion = microversion.requested(
            req.get_header(microversion.HEADER)
        )
        if (
            "\x00" in req.path
            or "\x00" in req.query_string
            or ("%00" in req.query_string)
        ):
            raise exceptions.BadRequest(
                "NUL characters are not allowed in the path or query."
            )
        length = req.content_length
        if length and not req.content_type:
            raise exceptions.BadRequest(
                "content-type header required when content-length > 0"
            )

    def process_response(self, req, resp, resource, req_succeeded):
        version = req.context.microversion
        if version is not None:
            resp.set_header(
                microversion.HEADER,
                "%s %s" % (microversion.SERVICE_TYPE, version),
            )
            if req_succeeded:
                resp.append_header("Vary", microversion.HEADER)


class BodySizeMiddleware:
    """413 for a body declared larger than ``[oslo_middleware]
    max_request_body_size`` (oslo.middleware's option), before any of it is
    read. A chunked body is read up to the limit (http.read_json)."""

    def __init__(self, limit):
        self.limit = limit

    def process_request(self, req, resp):
        length = req.content_length
        if length is not None and length > self.limit:
            LOG.info(
                "refused a body of %d bytes (max_request_body_size %d)",
                length,
                self.limit,
            )
            raise http.body_too_large(self.limit)


class EmptySegmentMiddleware:
    """404 for a path with an empty segment (``/allocations/``,
    ``//resource_providers``, a trailing slash): no Placement route has
    one, as for the reference, whose routes match non-empty segments only.
    The console's root, ``/allotment/ui/``, is allotment's own."""

    def process_request(self, req, resp):
        path = req.path
        if path not in ("/", console.ROOT) and (
            path.endswith("/") or "//" in path
        ):
            raise exceptions.NotFound("")


def _placement_error(req, resp, exc, params):
    extra = None
    if exc.status == 406 and req.context.microversion is None:
        extra = {
            "max_version": microversion.MAX_VERSION,
            "min_version": microversion.MIN_VERSION,
        }
    errors.render(
        req, resp, exc.status, exc.detail, exc.code, exc.headers, extra
    )


def _falcon_error(req, resp, exc, params):
    status = exc.status_code
    headers = {}
    message = ""
    if status == 405:
        allowed = [
            m.strip()
            for m in exc.headers.get("Allow", "").split(",")
            if m.strip() and m.strip() != "OPTIONS"
        ]
        headers["Allow"] = ", ".join(allowed)
        message = "The method specified is not allowed for this resource."
    elif status != 404:
        message = exc.description or exc.title or ""
    errors.render(req, resp, status, message, headers=headers)


def _unstorable_value(req, resp, exc, params):
    LOG.info(
        "database refused a value in %s %s: %s", req.method, req.path, exc.orig
    )
    errors.render(
        req,
        resp,
        400,
        "A value in the request cannot be stored or compared by the database.",
    )


def _database_error(req, resp, exc, params):
    if not engine.is_unavailable(exc):
        return _unexpected_error(req, resp, exc, params)
    # The driver's message only: SQLAlchemy's text quotes SQL and parameters.
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    LOG.warning(
        "database unavailable in %s %s (%s): %s %s",
        req.method,
        req.path,
        req.context.request_id,
        type(exc).__name__,
        reason[0] if reason else "",
    )
    errors.render(
        req,
        resp,
        503,
        errors.DATABASE_UNAVAILABLE,
        headers={"Retry-After": str(errors.RETRY_AFTER)},
    )


def _unexpected_error(req, resp, exc, params):
    # The detail names the error's type (and the database's error code)
    # only: its text may quote SQL.
    LOG.exception("unexpected error in %s %s", req.method, req.path)
    code = engine.error_code(exc)
    errors.render(
        req,
        resp,
        500,
        "Unexpected %s%s; the server log has the details of request %s."
        % (
            type(exc).__name__,
            " (database error %s)" % code if code else "",
            req.context.request_id,
        ),
    )


class SchemaMissing(RuntimeError):
    """The database has no placement schema and may not create it."""


def prepare_database(conf, database):
    """Wait for the database (``[placement_database] max_retries`` and
    ``retry_interval``), upgrade the schema if asked to, and add missing
    standard rows."""
    database.wait_until_reachable(
        conf.placement_database.max_retries,
        conf.placement_database.retry_interval,
    )
    if conf.placement_database.sync_on_startup:
        migrations.upgrade(database)
    elif migrations.current_revision(database) is None:
        raise SchemaMissing(
            "the database has no placement schema: run 'placement-manage db "
            "sync' (or 'allotment db sync'), or set [placement_database] "
            "sync_on_startup = True"
        )
    database.run_write(standard_rows.sync)


def build(conf, database=None, prepare=True, local_console=False):
    """The placement WSGI application for ``conf``.

    ``prepare=False`` skips the schema and standard-rows step, for workers
    whose parent process already did it. ``local_console``: with noauth2,
    console pages requested from a loopback address without a token are
    served as admin (``allotment serve`` bound to loopback sets it).
    """
    database = database or engine.Database.from_conf(conf)
    if prepare:
        prepare_database(conf, database)
    services = Services(conf, database, policy.Policy(conf))
    health.attach(conf, database)
    metrics.DB_CAPACITY.set(database.pool_capacity())

    middleware = [RequestIdMiddleware(services)]
    if conf.api.auth_strategy == "noauth2":
        middleware.append(
            auth.NoAuth2Middleware(
                console_prefix=console.ROOT if local_console else None
            )
        )
    middleware += [
        auth.ContextMiddleware(),
        MicroversionMiddleware(),
        BodySizeMiddleware(conf.oslo_middleware.max_request_body_size),
        EmptySegmentMiddleware(),
    ]

    # No default media type: bodiless answers (201, 204) carry no
    # Content-Type, and every body sets its own.
    app = falcon.App(middleware=middleware, media_type=None)
    app.req_options.keep_blank_qs_values = True
    app.req_options.auto_parse_qs_csv = False
    app.req_options.strip_url_path_trailing_slash = False
    app.add_error_handler(Exception, _unexpected_error)
    app.add_error_handler(
        (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError),
        _database_error,
    )
    app.add_error_handler(sa_exc.DataError, _unstorable_value)
    app.add_error_handler(falcon.HTTPError, _falcon_error)
    app.add_error_handler(exceptions.PlacementError, _placement_error)
    for path, resource in routes.build(services):
        app.add_route(path, resource)
    # Load the provider snapshot now, before the worker takes requests.
    snapshot.for_database(database).start(
        conf.allotment.snapshot_check_interval
    )

    application = app
    if conf.api.auth_strategy == "keystone":
        application = auth.KeystoneAuth(application, conf)
    if conf.cors.allowed_origin:
        application = oslo_cors.CORS(application, conf)
    if conf.oslo_middleware.enable_proxy_headers_parsing:
        application = http_proxy_to_wsgi.HTTPProxyToWSGI(application, conf)
    # Answered before authentication: the health check, and the metrics
    # for Prometheus scrapers in [allotment] metrics_allowed_source_ranges.
    application = metrics_resource.Scrape(application, services)
    return health.Dispatch(application, health.plain(conf))
