"""GET /allocation_candidates (from 1.10)."""

import random

from allotment import exceptions
from allotment import metrics
from allotment.api import candidates_query
from allotment.api import errors
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resource import per_method
from allotment.api.schemas import allocation_candidates as schema
from allotment.candidates import combine
from allotment.candidates import find
from allotment.candidates import render
from allotment.candidates import snapshot


class AllocationCandidates(Resource):
    since = per_method(GET=microversion.ALLOCATION_CANDIDATES)
    # candidates_query.parse validates with the same list.
    queries = per_method(GET=schema.BY_VERSION)

    def on_get(self, req, resp):
        self.require_version(req)
        http.require_json_accept(req)
        http.authorize(req, "allocation_candidates:list")
        version = req.context.microversion
        request = candidates_query.parse(http.query_lists(req), version)
        flags = candidates_query.flags(version)
        # One read: the version's refresh and the plan's look-ups of names.
        with self.db.read(consistent=True) as conn:
            current = current_version(self.db, conn)
            plan = find.plan(conn, current, request, flags)
        resp.status = 200
        resp.content_type = http.JSON
        # Streamed as generated from an immutable snapshot version: a slow
        # client holds up nobody else.
        resp.stream = render.answer(
            plan, self._choices(plan, request), flags, current
        )
        if version.matches(microversion.CACHE_HEADERS):
            http.set_cache_headers(resp)

    def _choices(self, plan, request):
        limit = most(request, self.conf)
        if plan is None:
            return metrics.candidates((), limit)
        rng = (
            random.Random()
            if self.conf.placement.randomize_allocation_candidates
            else None
        )
        return metrics.candidates(
            combine.generate(
                plan.problem,
                limit,
                breadth_first=breadth_first(self.conf),
                rng=rng,
            ),
            limit,
        )


def current_version(db, conn=None):
    """The snapshot version a request works on, brought up to the change
    log's head (through ``conn``, a consistent read that has run nothing
    yet, when given: see ``Snapshot.version``); 503 while the snapshot
    cannot be."""
    try:
        return snapshot.for_database(db).version(conn)
    except snapshot.Unavailable as exc:
        raise exceptions.ServiceUnavailable(
            "Allocation candidates are unavailable: %s; try again." % exc,
            headers={"Retry-After": str(errors.RETRY_AFTER)},
        ) from None


def most(request, conf):
    """The most candidates answered: ``limit`` and ``[placement]
    max_allocation_candidates`` (None: all)."""
    counts = [
        c
        for c in (request.limit, conf.placement.max_allocation_candidates)
        if c is not None and c >= 0
    ]
    return min(counts) if counts else None


def breadth_first(conf):
    return (
        conf.placement.allocation_candidates_generation_strategy
        == "breadth-first"
    )
