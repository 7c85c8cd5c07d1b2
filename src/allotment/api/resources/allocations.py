"""/allocations/{consumer_uuid}, POST /allocations (1.13) and
/resource_providers/{uuid}/allocations."""

import uuid

from allotment import exceptions
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import per_method
from allotment.api.schemas import allocations as schema
from allotment.domain import allocations as domain
from allotment.domain import consumers
from allotment.domain import provider_lookup
from allotment.domain import resource_classes

RACE_PREFIX = (
    "Inventory and/or allocations changed while attempting to allocate: "
)


def _last_modified(rows):
    return http.latest(*(r.updated_at or r.created_at for r in rows))


def request_from_body(conf, version, consumer_uuid, body):
    """A domain Request from one consumer's body (1.12 form or later)."""
    project_id, user_id = consumers.owner_or_incomplete(
        conf, body.get("project_id"), body.get("user_id")
    )
    allocations = {
        rp_uuid: entry["resources"]
        for rp_uuid, entry in body["allocations"].items()
    }
    generation = domain.UNCHECKED
    if version.matches(microversion.CONSUMER_GENERATION):
        generation = body.get("consumer_generation")
    return domain.Request(
        consumer_uuid,
        project_id,
        user_id,
        allocations,
        generation,
        body.get("consumer_type")
        if version.matches(microversion.CONSUMER_TYPES)
        else None,
    )


def requests_from_bodies(conf, version, bodies):
    """Domain Requests for a mapping of consumer uuid -> body."""
    return [
        request_from_body(conf, version, consumer_uuid, body)
        for consumer_uuid, body in bodies.items()
    ]


def write(db, conf, requests, unknown_class_prefix):
    """Run the claim, giving its errors the wording clients expect."""
    try:
        domain.replace(db, conf, requests)
    except domain.UnknownClass as exc:
        raise exceptions.BadRequest(
            unknown_class_prefix + exc.detail
        ) from None
    except domain.InvalidAllocation as exc:
        raise exceptions.Conflict(
            "Unable to allocate inventory: %s" % exc.detail
        ) from None
    except (domain.ProviderRace, domain.ConsumerRace) as exc:
        raise exceptions.Conflict(
            RACE_PREFIX + exc.detail, exceptions.CONCURRENT_UPDATE
        ) from None


class ConsumerAllocations(Resource):
    bodies = per_method(PUT=schema.PUT_BY_VERSION)

    def on_get(self, req, resp, consumer_uuid):
        http.require_json_accept(req)
        http.authorize(req, "allocations:list")
        version = req.context.microversion
        with self.db.read() as conn:
            rows = domain.for_consumer(conn, consumer_uuid)
            names = resource_classes.names_for(
                conn, {r.resource_class_id for r in rows}
            )
        allocations = {}
        for row in rows:
            entry = allocations.setdefault(
                row.provider_uuid,
                {"generation": row.provider_generation, "resources": {}},
            )
            entry["resources"][names[row.resource_class_id]] = row.used
        body = {"allocations": allocations}
        if rows and version.matches(microversion.ALLOCATIONS_DICT):
            first = rows[0]
            body["project_id"] = first.project_id
            body["user_id"] = first.user_id
            if version.matches(microversion.CONSUMER_GENERATION):
                body["consumer_generation"] = first.consumer_generation
            if version.matches(microversion.CONSUMER_TYPES):
                body["consumer_type"] = (
                    first.consumer_type or consumers.UNKNOWN_TYPE
                )
        http.send_json(req, resp, body, last_modified=_last_modified(rows))

    def on_put(self, req, resp, consumer_uuid):
        http.require_json_content(req)
        http.authorize(req, "allocations:update")
        if not http.is_uuid_like(consumer_uuid):
            raise exceptions.BadRequest(
                "Malformed consumer_uuid: %s" % consumer_uuid
            )
        consumer_uuid = str(uuid.UUID(consumer_uuid))
        version = req.context.microversion
        body = http.read_json(req, self.body_schema(req))
        if not version.matches(microversion.ALLOCATIONS_DICT):
            body["allocations"] = {
                item["resource_provider"]["uuid"]: {
                    "resources": item["resources"]
                }
                for item in body["allocations"]
            }
        request = request_from_body(self.conf, version, consumer_uuid, body)
        write(
            self.db,
            self.conf,
            [request],
            "Unable to allocate inventory for consumer %s: " % consumer_uuid,
        )
        http.send_empty(req, resp)

    def on_delete(self, req, resp, consumer_uuid):
        http.authorize(req, "allocations:delete")
        self.db.run_write(domain.delete_for_consumer, consumer_uuid)
        http.send_empty(req, resp)


class Allocations(Resource):
    since = per_method(POST=microversion.POST_ALLOCATIONS)
    bodies = per_method(POST=schema.POST_BY_VERSION)

    def on_post(self, req, resp):
        self.require_version(req)
        http.require_json_content(req)
        http.authorize(req, "allocations:manage")
        version = req.context.microversion
        body = http.read_json(req, self.body_schema(req))
        requests = requests_from_bodies(self.conf, version, body)
        write(self.db, self.conf, requests, "Unable to allocate inventory ")
        http.send_empty(req, resp)


class ProviderAllocations(Resource):
    def on_get(self, req, resp, uuid):
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:allocations:list")
        version = req.context.microversion
        with self.db.read() as conn:
            try:
                provider = provider_lookup.get(conn, uuid)
            except exceptions.NotFound as exc:
                raise exceptions.NotFound(
                    "Resource provider '%s' not found: %s" % (uuid, exc.detail)
                ) from None
            rows = domain.for_provider(conn, provider.id)
            names = resource_classes.names_for(
                conn, {r.resource_class_id for r in rows}
            )
        allocations = {}
        for row in rows:
            entry = allocations.setdefault(
                row.consumer_uuid, {"resources": {}}
            )
            entry["resources"][names[row.resource_class_id]] = row.used
            if version.matches(microversion.CONSUMER_GENERATION):
                entry["consumer_generation"] = row.consumer_generation
        body = {
            "allocations": allocations,
            "resource_provider_generation": provider.generation,
        }
        http.send_json(req, resp, body, last_modified=_last_modified(rows))
