"""The health check: oslo.middleware's ``Healthcheck`` with two backends.

``GET /healthcheck`` (and ``HEAD``) is answered before authentication by
oslo.middleware's healthcheck application: 200 (``HEAD``: 204) when every
configured backend is available, 503 otherwise, with the backends' reasons
(``[healthcheck]`` options: ``backends``, ``detailed``,
``allowed_source_ranges``, as for any OpenStack service). allotment adds two
backends, entry points of the ``oslo.middleware.healthcheck`` namespace and
the default of ``[healthcheck] backends``:

- ``allotment_database``: a ``SELECT 1`` on the placement database;
- ``allotment_snapshot``: this worker's provider snapshot is loaded
  (``candidates/snapshot.py``; a worker that started while the database
  was away answers allocation candidates with 503 until it is).

A backend finds the database of the application it checks through the
ConfigOpts it is given (``attach``). ``detailed`` builds the same check in
oslo.middleware's detailed mode, which ``GET /allotment/healthcheck`` serves
to administrators (``api/resources/health.py``).
"""

import time
import weakref

import falcon
import webob
from oslo_middleware import healthcheck
from oslo_middleware.healthcheck import pluginbase
from sqlalchemy import exc as sa_exc

from allotment.candidates import snapshot

PATH = "/healthcheck"
BACKENDS = ["allotment_database", "allotment_snapshot"]

# id(ConfigOpts) -> database (a ConfigOpts is a mapping: not hashable).
_DATABASES: dict[int, object] = {}


def attach(conf, database):
    """Make ``database`` the one the backends built from ``conf`` check
    (for as long as ``conf`` lives)."""
    key = id(conf)
    if key not in _DATABASES:
        weakref.finalize(conf, _DATABASES.pop, key, None)
    _DATABASES[key] = database


def _first_line(exc):
    # The driver's message only: SQLAlchemy's text quotes SQL.
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, lines[0] if lines else "")


class _Backend(pluginbase.HealthcheckBaseExtension):
    def __init__(self, oslo_conf, conf):
        super().__init__(oslo_conf, conf)
        self.database = _DATABASES[id(oslo_conf)]


class DatabaseCheck(_Backend):
    """Available when the placement database answers ``SELECT 1``."""

    def healthcheck(self, server_port):
        started = time.monotonic()
        try:
            with self.database.read() as conn:
                conn.exec_driver_sql("SELECT 1")
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            return pluginbase.HealthcheckResult(
                available=False,
                reason="database unreachable",
                details=_first_line(exc),
            )
        return pluginbase.HealthcheckResult(
            available=True,
            reason="database reachable",
            details="%s answered in %.1f ms"
            % (
                self.database.backend,
                (time.monotonic() - started) * 1000,
            ),
        )


class SnapshotCheck(_Backend):
    """Available when this worker's provider snapshot is loaded."""

    def healthcheck(self, server_port):
        figures = snapshot.for_database(self.database).counters()
        details = ", ".join(
            "%s=%s"
            % (name, round(value, 1) if type(value) is float else value)
            for name, value in figures.items()
        )
        if not figures["loaded"]:
            return pluginbase.HealthcheckResult(
                available=False,
                reason="provider snapshot not loaded",
                details=details,
            )
        return pluginbase.HealthcheckResult(
            available=True, reason="provider snapshot loaded", details=details
        )


class _Detailed(healthcheck.Healthcheck):
    """oslo.middleware's healthcheck, always in its detailed mode."""

    def _conf_get(self, key, group="healthcheck"):
        if key == "detailed":
            return True
        if key == "allowed_source_ranges":
            return []  # the policy rule decides who sees it
        return super()._conf_get(key, group=group)


def plain(conf):
    """The ``/healthcheck`` WSGI application of ``conf``."""
    return healthcheck.Healthcheck(None, conf)


def detailed(conf):
    """The detailed check (a WSGI application), for administrators."""
    return _Detailed(None, conf)


class Dispatch:
    """WSGI: ``/healthcheck`` to the health check, before authentication;
    everything else to ``application``."""

    def __init__(self, application, check):
        self.application = application
        self.check = check

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get(
            "REQUEST_METHOD"
        ) in ("GET", "HEAD"):
            return self.check(environ, start_response)
        return self.application(environ, start_response)


def send(req, resp, check):
    """Answer a Falcon request with the WSGI health check ``check``."""
    answer = check.process_request(webob.Request(dict(req.env)))
    resp.status = falcon.code_to_http_status(answer.status_int)
    resp.content_type = answer.content_type
    resp.data = answer.body
