"""GET /allotment/metrics: the Prometheus text exposition (allotment.metrics).

Answered to a token passing ``allotment:metrics``, or with no token at all
to clients in ``[allotment] metrics_allowed_source_ranges`` (``Scrape``,
placed before authentication by api/app.py). With ``[allotment]
export_capacity_metrics`` the answer adds capacity, used and reserved
amounts per resource class per root provider and per aggregate, computed
from the answering worker's provider snapshot (candidates/totals.py).
"""

import ipaddress
import logging

from prometheus_client import core
from sqlalchemy import exc as sa_exc

from allotment import metrics
from allotment.api import http
from allotment.api.resource import Resource
from allotment.candidates import snapshot
from allotment.candidates import totals

LOG = logging.getLogger(__name__)
PATH = "/allotment/metrics"

_AMOUNTS = (
    ("capacity", "Capacity ((total - reserved) * allocation_ratio)"),
    ("used", "Amount allocated"),
    ("reserved", "Amount reserved"),
)


def exposition(services):
    """The exposition bytes for the application's ``services``."""
    extra = []
    if services.conf.allotment.export_capacity_metrics:
        extra.append(lambda: _capacity(services.db))
    return metrics.exposition(extra)


def _capacity(database):
    try:
        version = snapshot.for_database(database).version()
        with database.read() as conn:
            found = totals.add_up(conn, version)
    except (snapshot.Unavailable, sa_exc.DBAPIError) as exc:
        # The other metrics still answer.
        LOG.warning("capacity metrics left out: %s", type(exc).__name__)
        return []
    families = []
    for name, text in _AMOUNTS:
        by_root = core.GaugeMetricFamily(
            "allotment_root_provider_%s" % name,
            "%s per resource class, over the tree of each root provider."
            % text,
            labels=["root_provider_uuid", "root_provider_name", "rc"],
        )
        for (uuid, rc), amounts in sorted(found.by_root.items()):
            by_root.add_metric(
                [uuid, found.root_names.get(uuid, ""), rc],
                getattr(amounts, name),
            )
        by_aggregate = core.GaugeMetricFamily(
            "allotment_aggregate_%s" % name,
            "%s per resource class, over the member providers of each "
            "aggregate." % text,
            labels=["aggregate_uuid", "rc"],
        )
        for (uuid, rc), amounts in sorted(found.by_aggregate.items()):
            by_aggregate.add_metric([uuid, rc], getattr(amounts, name))
        families += [by_root, by_aggregate]
    return families


class Metrics(Resource):
    def on_get(self, req, resp):
        http.authorize_allotment(req, "metrics")
        resp.status = 200
        resp.content_type = metrics.CONTENT_TYPE
        resp.data = exposition(self.services)


class Scrape:
    """WSGI: ``GET /allotment/metrics`` from the allowed source ranges,
    answered with no token; anything else goes to ``application``."""

    def __init__(self, application, services):
        self.application = application
        self.services = services
        self.networks = [
            ipaddress.ip_network(r)
            for r in services.conf.allotment.metrics_allowed_source_ranges
        ]

    def _allowed(self, environ):
        try:
            address = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if (
            self.networks
            and environ.get("PATH_INFO") == PATH
            and environ.get("REQUEST_METHOD") == "GET"
            and self._allowed(environ)
        ):
            body = exposition(self.services)
            start_response(
                "200 OK",
                [
                    ("Content-Type", metrics.CONTENT_TYPE),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body]
        return self.application(environ, start_response)
