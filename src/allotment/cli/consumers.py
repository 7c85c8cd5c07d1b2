"""``allotment consumers``: GET /allotment/consumers of a running server
(cli/remote.py: ``--url``, credentials, ``--json``), as a table.

Without ``--limit`` every page is fetched, following the answer's next
link; with it, one page of at most that many consumers (after
``--marker``).
"""

import urllib.parse

import prettytable

from allotment.cli import remote

PATH = "/allotment/consumers"

# option -> query parameter
_FILTERS = {
    "project_id": "project_id",
    "user_id": "user_id",
    "consumer_type": "consumer_type",
    "provider": "provider",
    "updated_before": "updated_before",
    "limit": "limit",
    "marker": "marker",
}


def add_parser(sub):
    p = sub.add_parser(
        "consumers",
        help="list consumers with their owner, type, generation, time "
        "stamps and allocation totals (GET /allotment/consumers of a "
        "running server)",
    )
    p.add_argument("--project-id", help="owned by this project")
    p.add_argument("--user-id", help="owned by this user")
    p.add_argument(
        "--consumer-type",
        help="of this type (unknown: consumers without one)",
    )
    p.add_argument(
        "--provider", metavar="UUID", help="holding allocations on it"
    )
    p.add_argument(
        "--updated-before",
        metavar="TIME",
        help="last written before this ISO 8601 time (UTC unless it says)",
    )
    p.add_argument(
        "--limit", type=int, help="one page of at most this many consumers"
    )
    p.add_argument("--marker", metavar="UUID", help="the page after it")
    remote.add_arguments(p)
    p.set_defaults(func=main)


def _query(args, marker=None):
    params = {
        name: getattr(args, option)
        for option, name in _FILTERS.items()
        if getattr(args, option) is not None
    }
    if marker is not None:
        params["marker"] = marker
    return urllib.parse.urlencode(params)


def fetch(args, path, query, environ=None):
    """{"consumers": [...]}: one page with ``--limit``, else every page
    (``remote.get``'s arguments)."""
    answer = remote.get(args, path, query, environ)
    if args.limit is not None:
        return answer
    listed = answer["consumers"]
    while answer.get("links"):
        answer = remote.get(
            args, path, _query(args, listed[-1]["uuid"]), environ
        )
        listed += answer["consumers"]
    return {"consumers": listed}


def _totals(allocations):
    return ", ".join("%s=%d" % item for item in sorted(allocations.items()))


def render(answer):
    """The consumers as a table, then a next-page hint when there is one."""
    table = prettytable.PrettyTable(
        [
            "uuid",
            "project",
            "user",
            "type",
            "generation",
            "updated",
            "allocations",
        ]
    )
    table.align = "l"
    for c in answer["consumers"]:
        table.add_row(
            [
                c["uuid"],
                c["project_id"],
                c["user_id"],
                c["consumer_type"],
                c["generation"],
                c["updated_at"] or c["created_at"],
                _totals(c["allocations"]) or "(none)",
            ]
        )
    count = len(answer["consumers"])
    lines = [
        table.get_string(),
        "%d consumer%s" % (count, "" if count == 1 else "s"),
    ]
    if answer.get("links"):
        lines[-1] += (
            "; more after --marker %s" % answer["consumers"][-1]["uuid"]
        )
    return "\n".join(lines)


def main(args, out=None, err=None, environ=None):
    return remote.call(
        args, PATH, _query(args), render, out, err, environ, fetch=fetch
    )
