"""/resource_providers/{uuid}/aggregates (from 1.1; with the provider
generation from 1.19)."""

from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import per_method
from allotment.api.schemas import aggregates as schema
from allotment.domain import aggregates as domain


def _send(req, resp, uuids, generation):
    body = {"aggregates": uuids}
    if req.context.microversion.matches(microversion.AGGREGATES_GENERATION):
        body["resource_provider_generation"] = generation
    # Associations carry no useful time stamp: the answer is "now".
    http.send_json(req, resp, body)


class ProviderAggregates(Resource):
    since = per_method(
        GET=microversion.AGGREGATES, PUT=microversion.AGGREGATES
    )
    bodies = per_method(PUT=schema.PUT_BODIES)

    def on_get(self, req, resp, uuid):
        self.require_version(req)
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:aggregates:list")
        with self.db.read() as conn:
            provider = domain.find(conn, uuid)
            uuids = domain.uuids_of(conn, provider.id)
        _send(req, resp, uuids, provider.generation)

    def on_put(self, req, resp, uuid):
        http.require_json_content(req)
        self.require_version(req)
        http.authorize(req, "resource_providers:aggregates:update")
        with_generation = req.context.microversion.matches(
            microversion.AGGREGATES_GENERATION
        )
        with self.db.read() as conn:
            domain.find(conn, uuid)
        data = http.read_json(req, self.body_schema(req))
        if with_generation:
            uuids = data["aggregates"]
            generation = self.db.run_write(
                domain.replace,
                uuid,
                uuids,
                data["resource_provider_generation"],
            )
        else:
            uuids = data
            generation = self.db.run_write(domain.replace, uuid, uuids)
        _send(req, resp, uuids, generation)
