"""/traits, /traits/{name} and /resource_providers/{uuid}/traits (from 1.6)."""

from allotment import exceptions
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import always
from allotment.api.resource import per_method
from allotment.api.schemas import traits as schema
from allotment.domain import provider_lookup
from allotment.domain import traits as domain

_INVALID_TRAIT = (
    "The trait is invalid. A valid trait must be no longer than 255 "
    'characters, start with the prefix "CUSTOM_" and use following '
    'characters: "A"-"Z", "0"-"9" and "_"'
)


def _modified(rows):
    return http.latest(*(r.updated_at or r.created_at for r in rows))


def _list_filters(params):
    """GET /traits query -> keyword filters of domain.list_all."""
    filters = {}
    if "name" in params:
        op, sep, value = params["name"].partition(":")
        if not sep:
            raise exceptions.BadRequest(
                "Badly formatted name parameter. Expected name query string "
                "parameter in form: ?name=[in|startswith]:[name1,name2|"
                'prefix]. Got: "%s"' % params["name"]
            )
        if op == "in":
            filters["name_in"] = value.split(",")
        elif op == "startswith":
            filters["prefix"] = value
    if "associated" in params:
        value = params["associated"].lower()
        if value not in ("true", "false"):
            raise exceptions.BadRequest(
                'The query parameter "associated" only accepts "true" or '
                '"false"'
            )
        filters["associated"] = value == "true"
    return filters


class Traits(Resource):
    since = per_method(GET=microversion.TRAITS)
    queries = per_method(GET=always(schema.LIST_QUERY))

    def on_get(self, req, resp):
        self.require_version(req)
        http.require_json_accept(req)
        http.authorize(req, "traits:list")
        params = http.validate_query(req, self.query_schema(req))
        filters = _list_filters(params)
        with self.db.read() as conn:
            rows = domain.list_all(conn, **filters)
        http.send_json(
            req,
            resp,
            {"traits": [r.name for r in rows]},
            last_modified=_modified(rows),
        )


class Trait(Resource):
    since = per_method(
        GET=microversion.TRAITS,
        PUT=microversion.TRAITS,
        DELETE=microversion.TRAITS,
    )

    def on_get(self, req, resp, name):
        self.require_version(req)
        http.authorize(req, "traits:show")
        with self.db.read() as conn:
            row = domain.get(conn, name)
        http.send_empty(req, resp, last_modified=row.created_at)

    def on_put(self, req, resp, name):
        self.require_version(req)
        http.authorize(req, "traits:update")
        try:
            http.validate(name, schema.CUSTOM_TRAIT)
        except exceptions.BadRequest:
            raise exceptions.BadRequest(_INVALID_TRAIT) from None
        row, created = self.db.run_write(domain.ensure, name)
        # Absolute, as the reference's Location headers are.
        resp.location = req.prefix + "/traits/" + name
        http.send_empty(req, resp, status=201 if created else 204)
        if req.context.microversion.matches(microversion.CACHE_HEADERS):
            http.set_cache_headers(resp, row.created_at)

    def on_delete(self, req, resp, name):
        self.require_version(req)
        http.authorize(req, "traits:delete")
        self.db.run_write(domain.delete, name)
        http.send_empty(req, resp)


class ProviderTraits(Resource):
    since = per_method(
        GET=microversion.TRAITS,
        PUT=microversion.TRAITS,
        DELETE=microversion.TRAITS,
    )
    bodies = per_method(PUT=always(schema.PROVIDER_TRAITS))

    def on_get(self, req, resp, uuid):
        self.require_version(req)
        http.require_json_accept(req)
        http.authorize(req, "resource_providers:traits:list")
        with self.db.read() as conn:
            provider = provider_lookup.get(conn, uuid)
            rows = domain.for_provider(conn, provider.id)
        body = {
            "traits": [r.name for r in rows],
            "resource_provider_generation": provider.generation,
        }
        http.send_json(req, resp, body, last_modified=_modified(rows))

    def on_put(self, req, resp, uuid):
        self.require_version(req)
        http.require_json_content(req)
        http.authorize(req, "resource_providers:traits:update")
        data = http.read_json(req, self.body_schema(req))
        generation, rows = self.db.run_write(
            domain.set_for_provider,
            uuid,
            data["resource_provider_generation"],
            data["traits"],
        )
        body = {
            "traits": [r.name for r in rows],
            "resource_provider_generation": generation,
        }
        http.send_json(req, resp, body, last_modified=_modified(rows))

    def on_delete(self, req, resp, uuid):
        self.require_version(req)
        http.authorize(req, "resource_providers:traits:delete")
        self.db.run_write(domain.clear_for_provider, uuid)
        http.send_empty(req, resp)
