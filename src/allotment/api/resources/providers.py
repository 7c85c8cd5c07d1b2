"""/resource_providers and /resource_providers/{uuid}.

The list is answered from the provider snapshot (candidates/listing.py),
each provider's entry rendered once per version and shape; by SQL
(``domain.list_filtered``) when the snapshot cannot say.
"""

import uuid as uuidlib

import orjson

from allotment import exceptions
from allotment.api import errors
from allotment.api import http
from allotment.api import microversion
from allotment.api import query
from allotment.api.resource import Resource
from allotment.api.resource import per_method
from allotment.api.schemas import providers as schema
from allotment.candidates import listing
from allotment.candidates import snapshot
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
        entry = self._entry
        template = self._template()
        return _listed(
            [
                entry(
                    template,
                    row.uuid,
                    row.name,
                    row.generation,
                    row.parent_provider_uuid,
                    row.root_provider_uuid,
                )
                for row in rows
            ]
        )

    def held(self, version, rows):
        """``many`` for the ``rows`` of a snapshot version: each entry is
        cached in the version for the requests of the same shape (a
        refresh drops those of the providers it changed)."""
        cache = version.summaries(
            ("resource_providers", self.base, tuple(self.rels), self.tree)
        )
        parts = [cache[row] for row in rows]
        if None in parts:
            entry = self._entry
            template = self._template()
            uuid_of, parent_of = version.uuid_of, version.parent_of
            for at, row in enumerate(rows):
                if parts[at] is None:
                    parent = parent_of[row]
                    parts[at] = cache[row] = entry(
                        template,
                        uuid_of[row],
                        version.name_of[row],
                        version.generation_of[row],
                        None if parent is None else uuid_of[parent],
                        uuid_of[version.root_of[row]],
                    )
        return _listed(parts)

    def _entry(self, template, uuid, name, generation, parent, root):
        """One provider's bytes, through ``template``."""
        dumps = orjson.dumps
        uuid = dumps(uuid)[1:-1]
        values = (uuid, dumps(name), generation, uuid)
        values += (uuid,) * len(self.rels)
        if self.tree:
            values += (dumps(parent), dumps(root))
        return template % values

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


def _listed(parts):
    """The list's body around the providers' entries ``parts`` (a list of
    the caller's: its ends are changed), in one join: each more copy of a
    large body costs more than all the joining."""
    if not parts:
        return b'{"resource_providers":[]}'
    parts[0] = b'{"resource_providers":[' + parts[0]
    parts[-1] += b"]}"
    return b",".join(parts)


def _modified(row):
    return row.updated_at or row.created_at


def held_version(db, conn, refresh=True):
    """The snapshot version a provider read is answered from (the list,
    a provider's usage), brought up to the change log's head through
    ``conn`` (without ``refresh``: the current version if it is at the
    head, else None); 503 while it cannot be (the database away, or the
    snapshot still loading once it is back), as the SQL would answer."""
    held = snapshot.for_database(db)
    try:
        return held.version(conn) if refresh else held.if_current(conn)
    except snapshot.Unavailable:
        raise exceptions.ServiceUnavailable(
            errors.DATABASE_UNAVAILABLE,
            headers={"Retry-After": str(errors.RETRY_AFTER)},
        ) from None


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
        # A current version needing no look-up answers after one plain
        # statement, the head's read. Otherwise one consistent read: the
        # version's refresh, the look-ups of names, and the SQL when the
        # snapshot cannot say, all at the version's time.
        rows = None
        if listing.reads_only_the_version(filters):
            with self.db.read() as conn:
                held = held_version(self.db, conn, refresh=False)
                if held is not None:
                    rows = listing.matching(conn, held, filters)
        if rows is None:
            with self.db.read(consistent=True) as conn:
                held = held_version(self.db, conn)
                rows = listing.matching(conn, held, filters)
                if rows is None:
                    found = domain.list_filtered(conn, filters)
        if rows is None:
            body = Renderer(req).many(found)
            modified = http.latest(*(_modified(row) for row in found))
        else:
            body = Renderer(req).held(held, rows)
            modified = held.last_modified(rows)
        http.send_json_bytes(req, resp, body, last_modified=modified)

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
