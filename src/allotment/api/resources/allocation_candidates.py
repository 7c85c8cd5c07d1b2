"""GET /allocation_candidates (from 1.10)."""

import random

from allotment.api import candidates_query
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.candidates import combine
from allotment.candidates import find
from allotment.candidates import render
from allotment.candidates import snapshot


class AllocationCandidates(Resource):
    def on_get(self, req, resp):
        microversion.require(req, microversion.ALLOCATION_CANDIDATES)
        http.require_json_accept(req)
        http.authorize(req, "allocation_candidates:list")
        version = req.context.microversion
        request = candidates_query.parse(http.query_lists(req), version)
        flags = candidates_query.flags(version)
        snap = snapshot.for_database(self.db)
        snap.lock.acquire()
        try:
            with self.db.read() as conn:
                snap.refresh(conn)
                plan = find.plan(conn, snap, request, flags)
            chunks = render.answer(plan, self._choices(plan, request),
                                   flags, snap)
        except BaseException:
            snap.lock.release()
            raise
        resp.status = 200
        resp.content_type = http.JSON
        # Streamed as generated, under the snapshot's lock until sent.
        resp.stream = _Locked(chunks, snap.lock)
        if version.matches(microversion.CACHE_HEADERS):
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


class _Locked:
    """A WSGI body iterable that releases ``lock`` when the server closes
    it (PEP 3333 servers always do), consumed or not."""

    def __init__(self, chunks, lock):
        self._chunks = chunks
        self._lock = lock

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)

    def close(self):
        lock, self._lock = self._lock, None
        if lock is not None:
            self._chunks.close()
            lock.release()
