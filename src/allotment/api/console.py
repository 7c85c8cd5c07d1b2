"""The web console at ``/allotment/ui/``: what its pages show, and rendering.

Server-rendered HTML (Jinja2 templates in ``api/templates/console/``), a
stylesheet and a little vanilla JavaScript (``api/static/console/``), no
build step and nothing loaded from elsewhere (the pages' Content Security
Policy allows their own origin only). Off unless ``[allotment] ui_enabled``;
each page checks the ``allotment:ui`` policy rule
(api/resources/console.py).

Pages: the root providers with their trees' totals per resource class
(from the provider snapshot, candidates/totals.py), a provider's whole tree
with inventories and usage bars per class, traits, aggregates and the
consumers allocated on it, a consumer's allocations, search by name,
uuid, trait or aggregate, and two forms taking an allocation-candidates
query: the explanation of its narrowing at each constraint
(candidates/explain.py, as GET /allotment/explain/allocation_candidates)
and how many more of it fit (candidates/fits.py, as GET
/allotment/capacity). Every bar also says its figures in words, so the
pages read the same with no colour.
"""

import dataclasses
import os
import re
import urllib.parse

import jinja2

from allotment import exceptions
from allotment.api import candidates_query
from allotment.api import http
from allotment.api import microversion
from allotment.api.resources import allocation_candidates
from allotment.candidates import explain
from allotment.candidates import fits
from allotment.candidates import totals
from allotment.domain import aggregates
from allotment.domain import allocations
from allotment.domain import capacity
from allotment.domain import inventories
from allotment.domain import providers
from allotment.domain import resource_classes
from allotment.domain import traits
from allotment.domain import usages

ROOT = "/allotment/ui/"
PAGE_SIZE = 100  # root providers per overview page
SEARCH_LIMIT = 200  # providers per search kind
CONSUMERS_SHOWN = 500  # allocations listed on a provider's page

_HERE = os.path.dirname(__file__)
STATIC = os.path.join(_HERE, "static", "console")
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(
        os.path.join(_HERE, "templates", "console")
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
# Own origin only: no inline script, nothing from the internet.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_TRAIT = re.compile(r"^[A-Z][A-Z0-9_]+$")


def render(req, resp, template, title, **values):
    """Send the page ``template`` rendered with ``values``."""
    resp.status = 200
    resp.content_type = "text/html; charset=utf-8"
    resp.set_header("Content-Security-Policy", _CSP)
    resp.set_header("Cache-Control", "no-store")
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.text = _TEMPLATES.get_template(template).render(
        base=http.url(req, ROOT.rstrip("/")), title=title, **values
    )


def static_file(name):
    """(bytes, media type) of a console asset; 404 for anything else."""
    media = {".css": "text/css", ".js": "text/javascript"}.get(
        os.path.splitext(name)[1]
    )
    if media is None or name not in os.listdir(STATIC):
        raise exceptions.NotFound("No console file %s." % name)
    with open(os.path.join(STATIC, name), "rb") as f:
        return f.read(), media + "; charset=utf-8"


def send_static(resp, name):
    data, media = static_file(name)
    resp.status = 200
    resp.content_type = media
    resp.set_header("Cache-Control", "max-age=300")
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.data = data


@dataclasses.dataclass
class Bar:
    """One resource class of a provider (or a tree): its usage bar."""

    rc: str
    capacity: float
    used: int
    reserved: int = 0
    total: int | None = None
    ratio: float | None = None
    min_unit: int | None = None
    max_unit: int | None = None
    step: int | None = None

    @property
    def percent(self):
        if self.capacity <= 0:
            return 100 if self.used else 0
        return min(100, round(100 * self.used / self.capacity))

    @property
    def free(self):
        return self.capacity - self.used

    @property
    def words(self):
        return "%s: %s of %s used (%d%%), %s free" % (
            self.rc,
            _number(self.used),
            _number(self.capacity),
            self.percent,
            _number(self.free),
        )


def _number(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}"


def overview(db, page):
    """The root providers (``PAGE_SIZE`` a page, by name) with the totals
    of their trees."""
    version = allocation_candidates.current_version(db)
    with db.read() as conn:
        found = totals.add_up(conn, version)
    bars = {}
    for (uuid, rc), amounts in found.by_root.items():
        bars.setdefault(uuid, []).append(
            Bar(rc, amounts.capacity, amounts.used, amounts.reserved)
        )
    sizes = {}
    for row in version.rows():
        root_uuid = version.uuid_of[version.root_of[row]]
        sizes[root_uuid] = sizes.get(root_uuid, 0) + 1
    roots = sorted(found.root_names.items(), key=lambda i: (i[1], i[0]))
    pages = max(1, -(-len(roots) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = roots[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    classes = sorted({rc for _uuid, rc in found.by_root})
    cloud = []
    for rc in classes:
        amounts = [a for (_u, r), a in found.by_root.items() if r == rc]
        cloud.append(
            Bar(
                rc,
                sum(a.capacity for a in amounts),
                sum(a.used for a in amounts),
                sum(a.reserved for a in amounts),
            )
        )
    return {
        "roots": [
            {
                "uuid": uuid,
                "name": name,
                "providers": sizes.get(uuid, 1),
                "bars": sorted(bars.get(uuid, []), key=lambda b: b.rc),
            }
            for uuid, name in shown
        ],
        "cloud": cloud,
        "root_count": len(roots),
        "provider_count": version.live,
        "page": page,
        "pages": pages,
    }


def _provider_bars(conn, row):
    _generation, used = usages.of_provider(conn, row.uuid)
    bars = []
    for rc, inv in inventories.list_for(conn, row).items():
        bars.append(
            Bar(
                rc,
                capacity.capacity(
                    inv.total, inv.reserved, inv.allocation_ratio
                ),
                used.get(rc, 0),
                inv.reserved,
                inv.total,
                inv.allocation_ratio,
                inv.min_unit,
                inv.max_unit,
                inv.step_size,
            )
        )
    return bars


def tree(db, uuid):
    """The whole tree of the provider ``uuid`` (404 if unknown), depth
    first, each provider with its bars, traits and aggregates; and the
    consumers allocated on ``uuid``."""
    with db.read() as conn:
        selected = providers.get(conn, uuid)
        rows = providers.list_filtered(conn, providers.Filters(in_tree=uuid))
        children = {}
        for row in rows:
            children.setdefault(row.parent_provider_uuid, []).append(row)
        ordered = []

        def walk(row, depth):
            ordered.append(
                {
                    "uuid": row.uuid,
                    "name": row.name,
                    "generation": row.generation,
                    "depth": depth,
                    "parent": row.parent_provider_uuid,
                    "selected": row.uuid == uuid,
                    "bars": _provider_bars(conn, row),
                    "traits": [
                        t.name for t in traits.for_provider(conn, row.id)
                    ],
                    "aggregates": list(aggregates.uuids_of(conn, row.id)),
                }
            )
            for child in sorted(
                children.get(row.uuid, []), key=lambda r: (r.name, r.id)
            ):
                walk(child, depth + 1)

        for root in children.get(None, []):
            walk(root, 0)
        held = allocations.for_provider(conn, selected.id)
        names = resource_classes.names_for(
            conn, {a.resource_class_id for a in held}
        )
    consumers = {}
    for a in held:
        entry = consumers.setdefault(
            a.consumer_uuid,
            {"uuid": a.consumer_uuid, "resources": {}},
        )
        entry["resources"][names[a.resource_class_id]] = a.used
    listed = list(consumers.values())
    return {
        "provider": selected,
        "tree": ordered,
        "consumers": listed[:CONSUMERS_SHOWN],
        "consumer_count": len(listed),
    }


def consumer(db, uuid):
    """A consumer's allocations (404 when it has none)."""
    with db.read() as conn:
        rows = allocations.for_consumer(conn, uuid)
        if not rows:
            raise exceptions.NotFound("No allocations for consumer %s." % uuid)
        names = resource_classes.names_for(
            conn, {r.resource_class_id for r in rows}
        )
        by_provider = {}
        for r in rows:
            entry = by_provider.get(r.provider_uuid)
            if entry is None:
                shown = providers.get(conn, r.provider_uuid)
                entry = by_provider[r.provider_uuid] = {
                    "uuid": r.provider_uuid,
                    "name": shown.name,
                    "root": shown.root_provider_uuid,
                    "resources": {},
                }
            entry["resources"][names[r.resource_class_id]] = r.used
    first = rows[0]
    return {
        "uuid": uuid,
        "project_id": first.project_id,
        "user_id": first.user_id,
        "consumer_type": first.consumer_type,
        "generation": first.consumer_generation,
        "providers": list(by_provider.values()),
    }


def search(db, text):
    """Providers matching ``text`` as a name fragment, a uuid, a trait or
    an aggregate uuid, and a consumer of that uuid: a list of (kind,
    providers) and the consumer uuid or None."""
    text = text.strip()
    results = []
    consumer_uuid = None
    if not text:
        return results, consumer_uuid
    with db.read() as conn:
        named = providers.named_like(conn, text, SEARCH_LIMIT)
        if named:
            results.append(("name contains %r" % text, named))
        if http.is_uuid_like(text):
            for kind, filters in (
                ("uuid", providers.Filters(uuid=text)),
                ("in aggregate", providers.Filters(member_of=[{text}])),
            ):
                found = providers.list_filtered(conn, filters)
                if found:
                    results.append(("%s %s" % (kind, text), found))
            if allocations.for_consumer(conn, text):
                consumer_uuid = text
        if _TRAIT.match(text):
            try:
                found = providers.list_filtered(
                    conn, providers.Filters(required_traits=[{text}])
                )
            except exceptions.BadRequest:  # no such trait
                found = []
            if found:
                results.append(("trait %s" % text, found[:SEARCH_LIMIT]))
    return results, consumer_uuid


def redirect(req, resp, path):
    """Answer 303 to ``path`` under the console."""
    resp.status = 303
    resp.location = http.url(req, ROOT + path)


@dataclasses.dataclass
class Query:
    """An allocation-candidates query typed into a console form: the query
    string (``resources=VCPU:2&required=...``) and the microversion it is
    read at (the API's latest unless given)."""

    text: str = ""
    version: str = microversion.MAX_VERSION
    error: str | None = None

    @classmethod
    def from_form(cls, req):
        return cls(
            (req.get_param("query") or "").strip().lstrip("?"),
            (req.get_param("version") or "").strip()
            or microversion.MAX_VERSION,
        )

    def parse(self):
        """(request, flags, version) of the query; PlacementError (a 4xx,
        with the API's message) when the API would refuse it."""
        version = microversion.requested(
            "%s %s" % (microversion.SERVICE_TYPE, self.version)
        )
        if not version.matches(microversion.ALLOCATION_CANDIDATES):
            raise exceptions.BadRequest(
                "Allocation candidates need microversion %d.%d or later."
                % microversion.ALLOCATION_CANDIDATES
            )
        lists = urllib.parse.parse_qs(self.text, keep_blank_values=True)
        return (
            candidates_query.parse(lists, version),
            candidates_query.flags(version),
        )


def _answer(db, query, work):
    """``work(conn, version, request, flags)`` for the query of a form, or
    None with ``query.error`` set (the API's 4xx message)."""
    if not query.text:
        return None
    try:
        request, flags = query.parse()
        version = allocation_candidates.current_version(db)
        with db.read() as conn:
            return work(conn, version, request, flags)
    except exceptions.PlacementError as exc:
        if exc.status >= 500:
            raise
        query.error = exc.detail
        return None


def explanation(db, conf, query):
    """The explanation of ``query`` (GET
    /allotment/explain/allocation_candidates's answer), or None."""

    def work(conn, version, request, flags):
        return explain.explain(
            conn,
            version,
            request,
            flags,
            allocation_candidates.most(request, conf),
            allocation_candidates.breadth_first(conf),
        )

    return _answer(db, query, work)


def room_for(db, query):
    """How many more of ``query`` fit, per root and per aggregate (GET
    /allotment/capacity?group_by=aggregate's answer), or None."""

    def work(conn, version, request, flags):
        found = fits.count(conn, version, request, flags)
        return fits.answer(conn, version, found, True)

    return _answer(db, query, work)
