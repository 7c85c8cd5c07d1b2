"""/resource_providers/{uuid}/inventories and .../inventories/{resource_class}.

The provider is looked up before the body is validated (404 first), as the
reference does.
"""

from allotment import exceptions
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import always
from allotment.api.resource import per_method
from allotment.api.schemas import inventories as schema
from allotment.domain import inventories as domain
from allotment.domain import provider_lookup


def _url(req, uuid, name):
    """The absolute URL of one inventory (the reference's Location)."""
    return req.prefix + "/resource_providers/%s/inventories/%s" % (uuid, name)


def _fields(record):
    return {field: record[field] for field in domain.FIELDS}


def _reserved_can_be_total(req):
    return req.context.microversion.matches(microversion.RESERVED_EQUALS_TOTAL)


def _send_all(req, resp, generation, records, last_modified=None):
    body = {
        "resource_provider_generation": generation,
        "inventories": {
            name: _fields(record) for name, record in records.items()
        },
    }
    http.send_json(req, resp, body, last_modified=last_modified)
    if not records:
        # Like the reference: no inventory, no Last-Modified (Cache-Control
        # stays).
        resp.delete_header("Last-Modified")


def _send_one(req, resp, generation, record, status=200, last_modified=None):
    body = _fields(record)
    body["resource_provider_generation"] = generation
    http.send_json(req, resp, body, status=status, last_modified=last_modified)


class _InventoryResource(Resource):
    def _read(self, req, uuid):
        """The JSON body, validated against the method's schema once the
        provider is known to exist (404 before 400, as the reference)."""
        data = http.read_json(req, {})
        with self.db.read() as conn:
            provider_lookup.get(conn, uuid)
        http.validate(data, self.body_schema(req))
        return data


class Inventories(_InventoryResource):
    since = per_method(DELETE=microversion.DELETE_INVENTORIES)
    bodies = per_method(POST=always(schema.NEW), PUT=always(schema.ALL))

    def on_get(self, req, resp, uuid):
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:inventories:list")
        with self.db.read() as conn:
            provider = provider_lookup.get(conn, uuid)
            rows = domain.list_for(conn, provider)
        records = {name: row._mapping for name, row in rows.items()}
        _send_all(
            req,
            resp,
            provider.generation,
            records,
            http.latest(
                *(r.updated_at or r.created_at for r in rows.values())
            ),
        )

    def on_post(self, req, resp, uuid):
        http.require_json_content(req)
        http.authorize(req, "resource_providers:inventories:create")
        data = self._read(req, uuid)
        generation, record = self.db.run_write(
            domain.create,
            uuid,
            data["resource_class"],
            data,
            _reserved_can_be_total(req),
        )
        resp.location = _url(req, uuid, data["resource_class"])
        _send_one(req, resp, generation, record, status=201)

    def on_put(self, req, resp, uuid):
        http.require_json_content(req)
        http.authorize(req, "resource_providers:inventories:update")
        data = self._read(req, uuid)
        generation, records = self.db.run_write(
            domain.replace_all,
            uuid,
            data["resource_provider_generation"],
            data["inventories"],
            _reserved_can_be_total(req),
        )
        _send_all(req, resp, generation, records)

    def on_delete(self, req, resp, uuid):
        self.require_version(req, exceptions.MethodNotAllowed)
        http.authorize(req, "resource_providers:inventories:delete")
        self.db.run_write(domain.delete_all, uuid)
        http.send_empty(req, resp)


class Inventory(_InventoryResource):
    bodies = per_method(PUT=always(schema.ONE))

    def on_get(self, req, resp, uuid, resource_class):
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:inventories:show")
        with self.db.read() as conn:
            provider = provider_lookup.get(conn, uuid)
            row = domain.get(conn, provider, resource_class)
        _send_one(
            req,
            resp,
            provider.generation,
            row._mapping,
            last_modified=row.updated_at or row.created_at,
        )

    def on_put(self, req, resp, uuid, resource_class):
        http.require_json_content(req)
        http.authorize(req, "resource_providers:inventories:update")
        data = self._read(req, uuid)
        generation, record = self.db.run_write(
            domain.update,
            uuid,
            resource_class,
            data,
            data["resource_provider_generation"],
            _reserved_can_be_total(req),
        )
        _send_one(req, resp, generation, record)

    def on_delete(self, req, resp, uuid, resource_class):
        http.authorize(req, "resource_providers:inventories:delete")
        self.db.run_write(domain.delete, uuid, resource_class)
        http.send_empty(req, resp)
