"""GET /: the version document (no authentication needed)."""

from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource


class Root(Resource):
    def on_get(self, req, resp):
        http.require_json_accept(req)
        body = {
            "versions": [
                {
                    "id": "v%s" % microversion.MIN_VERSION,
                    "max_version": microversion.MAX_VERSION,
                    "min_version": microversion.MIN_VERSION,
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": ""}],
                }
            ]
        }
        http.send_json(req, resp, body)
