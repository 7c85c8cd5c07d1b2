"""GET /allotment/openapi.json: the OpenAPI 3.1 description of the API at
one microversion (``?microversion=1.N``, default the latest)."""

from allotment.api import http
from allotment.api import openapi
from allotment.api.resource import Resource
from allotment.api.resource import always
from allotment.api.resource import per_method
from allotment.api.schemas import openapi as schema


class OpenApiDocument(Resource):
    queries = per_method(GET=always(schema.QUERY))

    def on_get(self, req, resp):
        http.require_json_accept(req)
        http.authorize_allotment(req, "openapi")
        params = http.validate_query(req, self.query_schema(req))
        version = openapi.parse_version(
            params.get("microversion", openapi.LATEST)
        )
        http.send_json(
            req, resp, openapi.document(version, http.url(req, "/"))
        )
