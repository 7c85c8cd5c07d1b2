"""``allotment explain`` and ``allotment capacity``: the CLI twins of GET
/allotment/explain/allocation_candidates and GET /allotment/capacity
(docs/insight.md), asking a running server through cli/remote.py and
printing its answer as text (or JSON with ``--json``)."""

import prettytable

from allotment.cli import remote

EXPLAIN_PATH = "/allotment/explain/allocation_candidates"
CAPACITY_PATH = "/allotment/capacity"


def explain(args):
    return remote.call(args, EXPLAIN_PATH, args.query, explain_text)


def capacity(args):
    query = args.query
    if args.by_aggregate:
        query += "&group_by=aggregate"
    return remote.call(args, CAPACITY_PATH, query, capacity_text)


def _table(fields):
    table = prettytable.PrettyTable(fields)
    table.align = "l"
    for field in fields:
        if field in ("providers", "trees", "eliminated", "candidates", "fits"):
            table.align[field] = "r"
    return table


def _example(example):
    """One removed provider: ``name [class]: what it lacked``."""
    who = example.get("name") or example["uuid"]
    if "resource_class" in example:
        who += " " + example["resource_class"]
    facts = []
    for key, value in example.items():
        if key in ("name", "uuid", "resource_class"):
            continue
        if key == "tree":
            facts.append("its tree " + value)
            continue
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        facts.append(
            "%s %s" % ("short by" if key == "short_by" else key, value)
        )
    return "%s: %s" % (who, ", ".join(facts))


def explain_text(answer):
    """The explanation as text: a table of steps per group, then the
    groups together, then the verdict."""
    cloud = answer["cloud"]
    lines = [
        "Cloud: %d providers in %d trees."
        % (cloud["providers"], cloud["trees"])
    ]
    for group in answer["groups"]:
        table = _table(
            ["constraint", "providers", "trees", "eliminated", "for example"]
        )
        for step in group["steps"]:
            examples = step["examples"] or [None]
            for i, example in enumerate(examples):
                first = i == 0
                table.add_row(
                    [
                        step["constraint"] if first else "",
                        step["providers"] if first else "",
                        step["trees"] if first else "",
                        step["eliminated"] if first else "",
                        "" if example is None else _example(example),
                    ]
                )
        title = group["label"][0].upper() + group["label"][1:]
        lines += ["", title, table.get_string()]
    table = _table(["constraint", "candidates", "trees"])
    for step in answer["together"]:
        candidates = step.get("candidates", "")
        if step.get("at_least"):
            candidates = "%s+" % candidates
        name = step["constraint"]
        if name == "limit" and step.get("limit") is not None:
            name = "limit (%d)" % step["limit"]
        table.add_row([name, candidates, step["trees"]])
    lines += ["", "All groups together", table.get_string(), ""]
    lines.append("Allocation candidates: %d" % answer["allocation_requests"])
    if answer["empty_because"]:
        lines.append(answer["empty_because"])
    return "\n".join(lines)


def capacity_text(answer):
    """How many more times the request fits: in all, per root provider
    and, when asked, per aggregate."""
    exact = "" if answer["exact"] else " at least"
    lines = ["The request fits%s %d more times." % (exact, answer["total"])]
    if answer["roots"]:
        table = _table(["root provider", "uuid", "fits"])
        for root in answer["roots"]:
            table.add_row([root["name"], root["uuid"], root["fits"]])
        lines += ["", table.get_string()]
    if "aggregates" in answer:
        table = _table(["aggregate", "root providers", "fits"])
        for agg in answer["aggregates"]:
            table.add_row([agg["uuid"], agg["roots"], agg["fits"]])
        table.add_row(["(in no aggregate)", "", answer["outside_aggregates"]])
        lines += ["", table.get_string()]
    return "\n".join(lines)


def add_parsers(sub):
    """The ``explain`` and ``capacity`` subcommands."""
    p = sub.add_parser(
        "explain",
        help="why GET /allocation_candidates finds what it finds (or "
        "nothing): providers and trees left after each constraint, asked "
        "of a running server",
        description="Ask a running server (GET %s) how many providers "
        "and trees each constraint of an allocation-candidates query "
        "leaves, with examples of those removed, and which one emptied "
        "the set." % EXPLAIN_PATH,
    )
    p.add_argument(
        "query",
        help="an allocation-candidates query string, e.g. "
        "'resources=VCPU:4,MEMORY_MB:8192&required=HW_CPU_X86_AVX2'",
    )
    remote.add_arguments(p)
    p.set_defaults(func=explain)
    p = sub.add_parser(
        "capacity",
        help="how many more times a request (a flavor) fits, per root "
        "provider and in all, asked of a running server",
        description="Ask a running server (GET %s) how many more claims "
        "of an allocation-candidates query would succeed, filling the "
        "cloud one claim at a time." % CAPACITY_PATH,
    )
    p.add_argument(
        "query",
        help="an allocation-candidates query string, e.g. "
        "'resources=VCPU:4,MEMORY_MB:8192,DISK_GB:40'",
    )
    p.add_argument(
        "--by-aggregate",
        action="store_true",
        help="also sum per aggregate of the root providers",
    )
    remote.add_arguments(p)
    p.set_defaults(func=capacity)
