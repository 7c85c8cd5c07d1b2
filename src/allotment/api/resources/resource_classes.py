"""/resource_classes and /resource_classes/{name} (from 1.2)."""

from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import always
from allotment.api.resource import per_method
from allotment.api.schemas import resource_classes as schema
from allotment.domain import resource_classes as domain


def _url(req, name):
    return http.url(req, "/resource_classes/" + name)


def _render(req, row):
    return {
        "name": row.name,
        "links": [{"rel": "self", "href": _url(req, row.name)}],
    }


class ResourceClasses(Resource):
    since = per_method(
        GET=microversion.RESOURCE_CLASSES, POST=microversion.RESOURCE_CLASSES
    )
    bodies = per_method(POST=always(schema.NAME_BODY))

    def on_get(self, req, resp):
        self.require_version(req)
        http.require_json_accept(req)
        http.authorize(req, "resource_classes:list")
        with self.db.read() as conn:
            rows = domain.list_all(conn)
        body = {"resource_classes": [_render(req, r) for r in rows]}
        http.send_json(
            req,
            resp,
            body,
            last_modified=http.latest(
                *(r.updated_at or r.created_at for r in rows)
            ),
        )

    def on_post(self, req, resp):
        self.require_version(req)
        http.authorize(req, "resource_classes:create")
        name = http.read_json(req, self.body_schema(req))["name"]
        self.db.run_write(domain.create, name)
        resp.status = 201
        resp.location = _url(req, name)


class ResourceClass(Resource):
    since = per_method(
        GET=microversion.RESOURCE_CLASSES,
        PUT=microversion.RESOURCE_CLASSES,
        DELETE=microversion.RESOURCE_CLASSES,
    )
    # From 1.7 PUT takes no body: it creates or confirms the class named.
    bodies = per_method(
        PUT=[
            (microversion.ENSURE_RESOURCE_CLASS, None),
            (microversion.BASE, schema.NAME_BODY),
        ]
    )

    def on_get(self, req, resp, name):
        self.require_version(req)
        http.require_json_accept(req)
        http.authorize(req, "resource_classes:show")
        with self.db.read() as conn:
            row = domain.get(conn, name)
        http.send_json(
            req,
            resp,
            _render(req, row),
            last_modified=row.updated_at or row.created_at,
        )

    def on_put(self, req, resp, name):
        self.require_version(req)
        if req.context.microversion.matches(
            microversion.ENSURE_RESOURCE_CLASS
        ):
            return self._create_or_validate(req, resp, name)
        http.authorize(req, "resource_classes:update")
        new_name = http.read_json(req, self.body_schema(req))["name"]
        row = self.db.run_write(domain.rename, name, new_name)
        http.send_json(req, resp, _render(req, row))

    def _create_or_validate(self, req, resp, name):
        http.authorize(req, "resource_classes:update")
        http.validate({"name": name}, schema.NAME_BODY)
        created = self.db.run_write(domain.ensure, name)
        resp.status = 201 if created else 204
        resp.location = _url(req, name)

    def on_delete(self, req, resp, name):
        self.require_version(req)
        http.authorize(req, "resource_classes:delete")
        self.db.run_write(domain.delete, name)
        resp.status = 204
