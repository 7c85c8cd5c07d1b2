"""/resource_providers/{uuid}/usages and /usages (from 1.9; per consumer
type from 1.38).

Usage is "now": from 1.15 Last-Modified is the time of the response. A
provider's usage comes from the provider snapshot when its version is at
the change log's head (one statement, the head's read:
``candidates/listing.py``), else from SQL.
"""

from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import per_method
from allotment.api.resources.providers import held_version
from allotment.api.schemas import usages as schema
from allotment.candidates import listing
from allotment.domain import usages as domain


class ProviderUsages(Resource):
    def on_get(self, req, resp, uuid):
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:usages")
        with self.db.read() as conn:
            held = held_version(self.db, conn, refresh=False)
            found = None if held is None else listing.usage(held, uuid)
            if found is None:
                generation, used = domain.of_provider(conn, uuid)
            else:
                generation, used = (
                    found[0],
                    domain.by_class_name(conn, found[1]),
                )
        http.send_json(
            req,
            resp,
            {"resource_provider_generation": generation, "usages": used},
        )


class Usages(Resource):
    since = per_method(GET=microversion.USAGES)
    queries = per_method(GET=schema.QUERIES)

    def on_get(self, req, resp):
        self.require_version(req)
        http.require_json_accept(req)
        project_id = http.query_lists(req).get("project_id", [None])[-1]
        http.authorize(req, "usages", {"project_id": project_id})
        by_type = req.context.microversion.matches(microversion.CONSUMER_TYPES)
        params = http.validate_query(req, self.query_schema(req))
        with self.db.read() as conn:
            if by_type:
                used = domain.by_consumer_type(
                    conn,
                    params["project_id"],
                    params.get("user_id"),
                    params.get("consumer_type"),
                )
            else:
                used = domain.totals(
                    conn, params["project_id"], params.get("user_id")
                )
        http.send_json(req, resp, {"usages": used})
