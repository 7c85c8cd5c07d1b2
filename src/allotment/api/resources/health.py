"""GET /allotment/healthcheck: the health check in oslo.middleware's
detailed mode (each backend's details, threads), for administrators."""

from allotment.api import health
from allotment.api import http
from allotment.api.resource import Resource


class DetailedHealthcheck(Resource):
    def __init__(self, services):
        super().__init__(services)
        self.check = health.detailed(services.conf)

    def on_get(self, req, resp):
        http.authorize_allotment(req, "healthcheck")
        health.send(req, resp, self.check)
