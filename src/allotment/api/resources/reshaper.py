"""POST /reshaper (from 1.30): move inventory and allocations at once."""

from allotment import exceptions
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import per_method
from allotment.api.resources import allocations as allocation_api
from allotment.api.schemas import reshaper as schema
from allotment.domain import allocations
from allotment.domain import inventories
from allotment.domain import reshaper as domain


class Reshaper(Resource):
    since = per_method(POST=microversion.RESHAPER)
    bodies = per_method(POST=schema.BY_VERSION)

    def on_post(self, req, resp):
        self.require_version(req)
        http.require_json_content(req)
        http.authorize(req, "reshaper:reshape")
        version = req.context.microversion
        body = http.read_json(req, self.body_schema(req))
        requests = allocation_api.requests_from_bodies(
            self.conf, version, body["allocations"]
        )
        try:
            domain.run(self.db, body["inventories"], requests)
        except (domain.UnknownClass, allocations.UnknownClass) as exc:
            raise exceptions.BadRequest(
                "malformed reshaper data: %s" % exc.detail
            ) from None
        except allocations.InvalidAllocation as exc:
            raise exceptions.Conflict(
                "Unable to allocate inventory: %s" % exc.detail
            ) from None
        except inventories.InvalidInventory as exc:
            raise exceptions.Conflict(
                "Unable to allocate inventory: %s" % exc.reason
            ) from None
        except (allocations.ProviderRace, allocations.ConsumerRace) as exc:
            raise exceptions.Conflict(
                "update conflict: %s" % exc.detail,
                exceptions.CONCURRENT_UPDATE,
            ) from None
        http.send_empty(req, resp)
