"""Test helpers: an in-process API client over the WSGI application."""

import contextlib
import threading
import urllib.parse
from wsgiref import simple_server

import falcon.testing
import orjson
import sqlalchemy as sa

from allotment import config
from allotment.api import app as api_app
from allotment.api import candidates_query
from allotment.api import microversion
from allotment.candidates import combine
from allotment.candidates import find
from allotment.candidates import render
from allotment.candidates import snapshot
from allotment.domain import capacity
from allotment.storage import engine
from allotment.storage import tables
from allotment.storage import usage_totals

ADMIN = {"x-auth-token": "admin"}


def make_conf(database_url, **overrides):
    """A ConfigOpts for tests: noauth2, the given database, schema synced.

    ``overrides`` are ``group__option=value`` pairs.
    """
    conf = config.load([], default_config_files=[])
    conf.set_override("auth_strategy", "noauth2", group="api")
    conf.set_override("connection", database_url, group="placement_database")
    conf.set_override("sync_on_startup", True, group="placement_database")
    for key, value in overrides.items():
        group, name = key.split("__", 1)
        conf.set_override(name, value, group=group)
    return conf


class Response:
    """What the app answered: status, headers (lower-case names), body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.status_code = int(status.split(" ", 1)[0])
        self.headers = {name.lower(): value for name, value in headers}
        self.content = body
        self.text = body.decode("utf-8")

    @property
    def json(self):
        return orjson.loads(self.content) if self.content else None


class ApiClient:
    """Calls the WSGI app in-process, as admin, at a chosen microversion."""

    def __init__(self, conf, database, **build_args):
        self.conf = conf
        self.db = database
        self.app = api_app.build(conf, database=database, **build_args)

    @classmethod
    def create(cls, database_url, **overrides):
        conf = make_conf(database_url, **overrides)
        return cls(conf, engine.Database.from_conf(conf))

    def request(
        self,
        method,
        path,
        version="latest",
        body=None,
        headers=None,
        token="admin",
        raw=None,
        content_type=None,
        remote_addr=None,
    ):
        """Send a request. ``body`` is sent as JSON; ``raw`` as bytes."""
        path, _sep, query = path.partition("?")
        hdrs = {"accept": "application/json"}
        if token is not None:
            hdrs["x-auth-token"] = token
        if version is not None:
            hdrs["openstack-api-version"] = "placement %s" % version
        if body is not None:
            raw = orjson.dumps(body)
            hdrs["content-type"] = "application/json"
        if content_type is not None:
            hdrs["content-type"] = content_type
        if headers:
            hdrs.update(headers)
        environ = falcon.testing.create_environ(
            path=path,
            query_string=query,
            method=method,
            headers=hdrs,
            body=raw or b"",
            remote_addr=remote_addr,
        )
        captured = {}

        def start_response(status, response_headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = response_headers

        chunks = self.app(environ, start_response)
        body_bytes = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        return Response(captured["status"], captured["headers"], body_bytes)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.request("PUT", path, body=body, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body=body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def close(self):
        snapshot.for_database(self.db).stop()
        self.db.dispose()


def snapshot_state(version):
    """Everything a snapshot version holds, as plain comparable data named
    by provider ids (rows differ between a kept and a fresh version)."""
    ids = version.ids

    def id_of(row):
        return None if row is None else ids[row]

    def id_set(rows):
        return sorted(ids[row] for row in rows)

    def room(r):
        return (
            r.total,
            r.reserved,
            r.ratio,
            r.capacity,
            r.used,
            r.min_unit,
            r.max_unit,
            r.step,
            r.headroom,
        )

    rows = version.rows()
    providers = {
        ids[row]: (
            version.uuid_of[row],
            id_of(version.parent_of[row]),
            ids[version.root_of[row]],
            version.traits_of[row],
            version.trait_names_of(row),
            version.aggregates_of[row],
            {rc: room(r) for rc, r in version.inventory(row).items()},
            version.name_of[row],
            version.generation_of[row],
            version.modified_of[row],
            row in version.rootless,
        )
        for row in rows
    }
    by_class = {}
    for rc, members in version.by_class.items():
        for row, at in zip(members, version.at_class[rc], strict=False):
            assert at == version.inv_at[row] + version.layout_of[row][rc]
            by_class.setdefault(rc, {})[ids[row]] = version.headroom[at]
    return {
        "providers": providers,
        "by_class": by_class,
        "headroom": {
            rc: {
                ids[row]: version.headrooms().get((row, rc))
                for row in rows
                if rc in version.layout_of[row]
            }
            for rc in version.by_class
        },
        "by_trait": {t: id_set(m) for t, m in version.by_trait.items()},
        "by_agg": {a: id_set(m) for a, m in version.by_agg.items()},
        "trees": {
            ids[row]: id_set(version.tree(row))
            for row in rows
            if version.root_of[row] == row
        },
        "id_of": {uuid: ids[row] for uuid, row in version.id_of.items()},
        "anchors": {
            ids[row]: id_set(version.anchors_of(row))
            for row in rows
            if version.aggregates_of[row]
        },
        "live": version.live,
        "nested": version.nested,
        "rc_names": version.rc_names,
    }


def fits_state(version, keys):
    """The providers (ids) with room for each (class id, amount) of
    ``keys``: what ``Version.fitting`` answers, kept or derived entries
    included, and among a scope of every provider (which it answers from
    those entries), checked against the capacity rule provider by
    provider."""
    ids = version.ids
    rows = version.rows()
    state = {}
    for key in keys:
        found = sorted(ids[row] for row in version.fitting(*key))
        among = version.fitting(*key, set(rows))
        rc_id, amount = key
        assert among == {
            row
            for row in rows
            if (room := version.inventory(row).get(rc_id)) is not None
            and capacity.has_room(amount, room.capacity, room.used)
            and capacity.within_units(
                amount, room.min_unit, room.max_unit, room.step
            )
        }
        state[key] = (found, sorted(ids[row] for row in among))
    return state


def fits_keys(version, amounts=(1, 2, 7)):
    """(class id, amount) pairs worth asking ``version`` (the amounts are
    asked again of the next version, which derives its answers)."""
    return [
        (rc, amount) for rc in sorted(version.by_class) for amount in amounts
    ]


def assert_snapshot_exact(database):
    """The snapshot kept current change by change (that of ``database``
    in this process) equals a fresh load."""
    kept = snapshot.for_database(database).version()
    fresh = snapshot.Snapshot(database).version()
    assert kept.seq == fresh.seq
    assert snapshot_state(kept) == snapshot_state(fresh)
    keys = fits_keys(fresh)
    assert fits_state(kept, keys) == fits_state(fresh, keys)


@contextlib.contextmanager
def served_in_thread(app):
    """Serve the WSGI ``app`` over HTTP on a free loopback port from a
    thread (for clients that speak HTTP, such as the CLI twins); yields
    the base URL."""
    server = simple_server.make_server(
        "127.0.0.1", 0, app, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def assert_usage_totals_exact(database):
    """The usage totals the writes keep equal a recount from the
    allocations."""
    totals = tables.usage_totals
    counts = tables.consumer_totals
    with database.read(consistent=True) as conn:
        kept = (
            {
                tuple(row[:4]): tuple(row[4:])
                for row in conn.execute(
                    sa.select(totals).where(totals.c.allocations != 0)
                )
            },
            {
                tuple(row[:3]): row[3]
                for row in conn.execute(
                    sa.select(counts).where(counts.c.consumers != 0)
                )
            },
        )
    with database.engine.connect() as conn:
        trans = conn.begin()
        usage_totals.rebuild(conn)
        fresh = (
            {
                tuple(row[:4]): tuple(row[4:])
                for row in conn.execute(sa.select(totals))
            },
            {
                tuple(row[:3]): row[3]
                for row in conn.execute(sa.select(counts))
            },
        )
        trans.rollback()
    assert kept == fresh


def usages_by_sql(database, query, version):
    """What GET /usages?<query> answers at ``version``, counted from the
    allocations themselves (consumers joined, as the reference does)."""
    params = dict(part.split("=", 1) for part in query.split("&"))
    alloc, cons = tables.allocations, tables.consumers
    proj, users = tables.projects, tables.users
    types, classes = tables.consumer_types, tables.resource_classes
    joined = (
        alloc.join(cons, cons.c.uuid == alloc.c.consumer_id)
        .join(proj, proj.c.id == cons.c.project_id)
        .join(users, users.c.id == cons.c.user_id)
        .join(classes, classes.c.id == alloc.c.resource_class_id)
        .outerjoin(types, types.c.id == cons.c.consumer_type_id)
    )
    select = (
        sa.select(
            alloc.c.consumer_id, types.c.name, classes.c.name, alloc.c.used
        )
        .select_from(joined)
        .where(proj.c.external_id == params["project_id"])
    )
    if "user_id" in params:
        select = select.where(users.c.external_id == params["user_id"])
    with database.read() as conn:
        rows = conn.execute(select).all()
    wanted = params.get("consumer_type")
    result = {}
    consumers = {}
    for consumer, type_name, rc_name, used in rows:
        type_name = type_name or "unknown"
        if version == "1.9":
            group = "-"
        elif wanted == "all":
            group = "all"
        elif wanted is not None and type_name != wanted:
            continue
        else:
            group = type_name
        entry = result.setdefault(group, {})
        entry[rc_name] = entry.get(rc_name, 0) + used
        consumers.setdefault(group, set()).add(consumer)
    if version == "1.9":
        return {"usages": result.get("-", {})}
    for group, entry in result.items():
        entry["consumer_count"] = len(consumers[group])
    return {"usages": result}


def candidates(database, version, query, at="1.37"):
    """GET /allocation_candidates?``query`` answered from the snapshot
    ``version`` (kept or freshly loaded), as the API answers it."""
    requested = microversion.requested("placement " + at)
    request = candidates_query.parse(urllib.parse.parse_qs(query), requested)
    flags = candidates_query.flags(requested)
    with database.read(consistent=True) as conn:
        plan = find.plan(conn, version, request, flags)
    choices = () if plan is None else combine.generate(plan.problem)
    return orjson.loads(b"".join(render.answer(plan, choices, flags, version)))
