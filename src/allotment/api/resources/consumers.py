"""GET /allotment/consumers: consumers with their owner, type, generation,
time stamps and allocation totals, filtered and paginated (allotment's own;
``allotment consumers`` is its command-line twin)."""

import datetime
import urllib.parse

from allotment import exceptions
from allotment.api import http
from allotment.api.resource import Resource
from allotment.api.schemas import consumers as schema
from allotment.domain import consumers as domain


def _timestamp(value):
    """An ISO 8601 time, UTC, as ``updated_before`` takes it (naive UTC)."""
    try:
        when = datetime.datetime.fromisoformat(value)
        if when.tzinfo is not None:
            when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # out of range once in UTC
        raise exceptions.BadRequest(
            "Invalid query string parameters: 'updated_before' must be an "
            "ISO 8601 time such as 2026-11-30T12:00:00Z. Got: %s" % value,
            exceptions.QUERYPARAM_BAD_VALUE,
        ) from None
    return when


def _iso(when):
    return None if when is None else when.isoformat() + "Z"


def _limit(params):
    limit = int(params.get("limit", schema.MAX_LIMIT))
    if limit > schema.MAX_LIMIT:
        raise exceptions.BadRequest(
            "Invalid query string parameters: 'limit' must be at most %d. "
            "Got: %d" % (schema.MAX_LIMIT, limit),
            exceptions.QUERYPARAM_BAD_VALUE,
        )
    return limit


class Consumers(Resource):
    def on_get(self, req, resp):
        http.require_json_accept(req)
        http.authorize_allotment(req, "consumers:list")
        params = http.validate_query(req, schema.LIST_QUERY)
        limit = _limit(params)
        updated_before = params.get("updated_before")
        filters = domain.Filters(
            project_id=params.get("project_id"),
            user_id=params.get("user_id"),
            consumer_type=params.get("consumer_type"),
            provider=params.get("provider"),
            updated_before=updated_before and _timestamp(updated_before),
            marker=params.get("marker"),
        )
        with self.db.read() as conn:
            page, more = domain.list_page(conn, filters, limit)
        for consumer in page:
            consumer["created_at"] = _iso(consumer["created_at"])
            consumer["updated_at"] = _iso(consumer["updated_at"])
        body = {"consumers": page}
        if more:
            query = dict(params, marker=page[-1]["uuid"])
            body["links"] = [
                {
                    "rel": "next",
                    "href": "%s?%s"
                    % (
                        http.url(req, req.path),
                        urllib.parse.urlencode(sorted(query.items())),
                    ),
                }
            ]
        http.send_json(req, resp, body)
