"""Operator insight: GET /allotment/explain/allocation_candidates and
GET /allotment/capacity (docs/insight.md).

Both take the query language of GET /allocation_candidates, parsed by
api/candidates_query.py at the request's microversion (from 1.10, with
the same 400s), and work on the snapshot version a candidates request
would (``allocation_candidates.current_version``). The work is
candidates/explain.py's and candidates/fits.py's.
"""

from allotment import exceptions
from allotment.api import candidates_query
from allotment.api import http
from allotment.api import microversion
from allotment.api.resource import Resource
from allotment.api.resources import allocation_candidates as candidates
from allotment.candidates import explain
from allotment.candidates import fits

# GET /allotment/capacity's own parameter: group_by=aggregate adds sums
# over the root providers of each aggregate.
GROUP_BY = ("aggregate",)


def _read(req, params, db):
    """(candidates.groups.Request, Flags, snapshot version) for the query
    ``params`` at the request's microversion."""
    version = req.context.microversion
    request = candidates_query.parse(params, version)
    return (
        request,
        candidates_query.flags(version),
        (candidates.current_version(db)),
    )


class Explain(Resource):
    def on_get(self, req, resp):
        microversion.require(req, microversion.ALLOCATION_CANDIDATES)
        http.require_json_accept(req)
        http.authorize_allotment(req, "explain")
        request, flags, current = _read(req, http.query_lists(req), self.db)
        with self.db.read() as conn:
            body = explain.explain(
                conn,
                current,
                request,
                flags,
                candidates.most(request, self.conf),
                candidates.breadth_first(self.conf),
            )
        http.send_json(req, resp, body)


class Capacity(Resource):
    def on_get(self, req, resp):
        microversion.require(req, microversion.ALLOCATION_CANDIDATES)
        http.require_json_accept(req)
        http.authorize_allotment(req, "capacity")
        params = http.query_lists(req)
        group_by = params.pop("group_by", None)
        if group_by is not None and (
            len(group_by) > 1 or group_by[0] not in GROUP_BY
        ):
            raise exceptions.BadRequest(
                "Invalid query string parameters: group_by must be one of "
                "%s." % ", ".join(GROUP_BY),
                exceptions.QUERYPARAM_BAD_VALUE,
            )
        request, flags, current = _read(req, params, self.db)
        with self.db.read() as conn:
            found = fits.count(conn, current, request, flags)
            body = fits.answer(conn, current, found, group_by is not None)
        http.send_json(req, resp, body)
