"""GET /allocation_candidates (from 1.10)."""

import random

from allotment.api import errors
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.candidates import combine
from allotment.candidates import find
from allotment.candidates import render
from allotment.candidates import request as candidates_request
from allotment.candidates import snapshot

RETRY_AFTER = 2  # seconds, while the provider snapshot cannot be refreshed


class AllocationCandidates(Resource):
    def on_get(self, req, resp):
        microversion.require(req, (1, 10))
        http.require_json_accept(req)
        http.authorize(req, "allocation_candidates:list")
        version = req.context.microversion
        request = candidates_request.parse(http.query_lists(req), version)
        try:
            current = snapshot.for_database(self.db).version()
        except snapshot.Unavailable as exc:
            raise errors.PlacementError(
                "Allocation candidates are unavailable: %s; try again."
                % exc, status=503,
                headers={"Retry-After": str(RETRY_AFTER)}) from None
        with self.db.read() as conn:
            plan = find.plan(conn, current, request, version)
        resp.status = 200
        resp.content_type = http.JSON
        # Streamed as generated from an immutable snapshot version: a slow
        # client holds up nobody else.
        resp.stream = render.answer(plan, self._choices(plan, request),
                                    version, current)
        if version.matches((1, 15)):
            http.set_cache_headers(resp)

    def _choices(self, plan, request):
        if plan is None:
            return iter(())
        options = self.conf.placement
        counts = [c for c in (request.limit,
                              options.max_allocation_candidates)
                  if c is not None and c >= 0]
        rng = (random.Random() if options.randomize_allocation_candidates
               else None)
        breadth_first = (options.allocation_candidates_generation_strategy
                         == "breadth-first")
        return combine.generate(plan.problem, min(counts) if counts else None,
                                breadth_first=breadth_first, rng=rng)


ROUTES = [
    ("/allocation_candidates", AllocationCandidates),
]
