"""GET /allotment/audit: the findings of ``allotment audit`` (read-only;
the list of live consumers and ``--fix`` are the command's only)."""

from allotment.api import http
from allotment.api.resource import Resource
from allotment.domain import audit as domain


class Audit(Resource):
    def on_get(self, req, resp):
        http.require_json_accept(req)
        http.authorize_allotment(req, "audit")
        http.validate_query(
            req, {"type": "object", "additionalProperties": False}
        )
        with self.db.read(consistent=True) as conn:
            findings = domain.find(conn)
        http.send_json(
            req, resp, {"findings": [f.as_dict() for f in findings]}
        )
