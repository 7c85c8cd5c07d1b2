"""/resource_providers and /resource_providers/{uuid}."""

import uuid as uuidlib

import orjson

from allotment.api import http
from allotment.api import microversion
from allotment.api import query
from allotment.api.resource import Resource
from allotment.api.resource import per_method
from allotment.api.schemas import providers as schema
from allotment.domain import providers as domain

# Links each provider shows besides "self", with the version adding them.
_LINK_RELS = [
    (microversion.BASE, "inventories"),
    (microversion.BASE, "usages"),
    (microversion.AGGREGATES, "aggregates"),
    (microversion.TRAITS, "traits"),
    (microversion.ALLOCATIONS_LINK, "allocations"),
]


class Renderer:
    """Renders provider rows for one request's microversion."""

    def __init__(self, req):
        version = req.context.microversion
        self.base = http.url(req, "/resource_providers/")
        self.rels = [
            rel for since, rel in _LINK_RELS if version.matches(since)
        ]
        self.tree = version.matches(microversion.NESTED_PROVIDERS)

    def __call__(self, row):
        href = self.base + row.uuid
        links = [{"rel": "self", "href": href}]
        links += [
            {"rel": rel, "href": "%s/%s" % (href, rel)} for rel in self.rels
        ]
        body = {
            "uuid": row.uuid,
            "name": row.name,
            "generation": row.generation,
            "links": links,
        }
        if self.tree:
            body["parent_provider_uuid"] = row.parent_provider_uuid
            body["root_provider_uuid"] = row.root_provider_uuid
        return body

    def many(self, rows):
        """The JSON bytes of ``{"resource_providers": [...]}`` for ``rows``:
        exactly what ``orjson.dumps`` gives for the dicts ``__call__``
        builds, written through one positional %-template per provider
        instead of building and serializing a dict and a list of links
        each."""
        template = self._template()
        dumps = orjson.dumps
        links = len(self.rels)
        parts = []
        for row in rows:
            uuid = dumps(row.uuid)[1:-1]
            values = (uuid, dumps(row.name), row.generation, uuid)
            values += (uuid,) * links
            if self.tree:
                values += (
                    dumps(row.parent_provider_uuid),
                    dumps(row.root_provider_uuid),
                )
            parts.append(template % values)
        return b'{"resource_providers":[' + b",".join(parts) + b"]}"

    def _template(self):
        # The base URL is escaped for JSON, then for the %-template.
        base = orjson.dumps(self.base)[1:-1].replace(b"%", b"%%")
        links = [b'{"rel":"self","href":"' + base + b'%b"}']
        links += [
            b'{"rel":"%s","href":"%s%%b/%s"}'
            % (rel.encode(), base, rel.encode())
            for rel in self.rels
        ]
        template = (
            b'{"uuid":"%b","name":%b,"generation":%d,"links":['
            + b",".join(links)
            + b"]"
        )
        if self.tree:
            template += b',"parent_provider_uuid":%b,"root_provider_uuid":%b'
        return template + b"}"


def _modified(row):
    return row.updated_at or row.created_at


def _filters(req, query_schema):
    """The list filters of the query string (validated per microversion)."""
    version = req.context.microversion
    # member_of and required may repeat; their parsers apply the
    # microversion rules.
    params = http.validate_query(
        req, query_schema, repeatable=("member_of", "required")
    )
    values = http.query_lists(req)
    filters = domain.Filters(
        name=params.get("name") or None,
        uuid=params.get("uuid") or None,
        in_tree=params.get("in_tree") or None,
    )
    if "member_of" in values:
        filters.member_of, filters.forbidden_aggregates = query.member_of(
            values["member_of"], version
        )
    if "required" in values:
        filters.required_traits, filters.forbidden_traits = query.required(
            values["required"], version
        )
    if "resources" in params:
        filters.resources = query.resources(params["resources"])
    return filters


class ResourceProviders(Resource):
    bodies = per_method(POST=schema.POST_BODIES)
    queries = per_method(GET=schema.LIST_QUERIES)

    def on_get(self, req, resp):
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:list")
        filters = _filters(req, self.query_schema(req))
        with self.db.read() as conn:
            rows = domain.list_filtered(conn, filters)
        http.send_json_bytes(
            req,
            resp,
            Renderer(req).many(rows),
            last_modified=http.latest(*(_modified(row) for row in rows)),
        )

    def on_post(self, req, resp):
        http.require_json_content(req)
        http.authorize(req, "resource_providers:create")
        version = req.context.microversion
        data = http.read_json(req, self.body_schema(req))
        if data.get("uuid"):
            provider_uuid = str(uuidlib.UUID(data["uuid"]))
        else:
            provider_uuid = str(uuidlib.uuid4())
        row = self.db.run_write(
            domain.create,
            provider_uuid,
            data["name"],
            data.get("parent_provider_uuid"),
        )
        resp.location = http.url(req, "/resource_providers/" + row.uuid)
        if version.matches(microversion.CREATE_SHOWS_PROVIDER):
            http.send_json(
                req, resp, Renderer(req)(row), last_modified=_modified(row)
            )
        else:
            http.send_empty(req, resp, status=201)


class ResourceProvider(Resource):
    bodies = per_method(PUT=schema.PUT_BODIES)

    def on_get(self, req, resp, uuid):
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:show")
        with self.db.read() as conn:
            row = domain.get(conn, uuid)
        http.send_json(
            req, resp, Renderer(req)(row), last_modified=_modified(row)
        )

    def on_put(self, req, resp, uuid):
        http.require_json_content(req)
        http.authorize(req, "resource_providers:update")
        version = req.context.microversion
        with self.db.read() as conn:
            domain.get(conn, uuid)
        data = http.read_json(req, self.body_schema(req))
        extra = {}
        if "parent_provider_uuid" in data:
            extra["parent_uuid"] = data["parent_provider_uuid"]
        row = self.db.run_write(
            domain.update,
            uuid,
            data["name"],
            allow_reparenting=version.matches(microversion.REPARENTING),
            **extra,
        )
        http.send_json(
            req, resp, Renderer(req)(row), last_modified=_modified(row)
        )

    def on_delete(self, req, resp, uuid):
        http.authorize(req, "resource_providers:delete")
        self.db.run_write(domain.delete, uuid)
        http.send_empty(req, resp)
