"""``allotment audit [--fix] [--live-consumers FILE] [--json]``: the audit of
domain/audit.py, read straight from the configured database.

Prints each finding under its kind with the commands that fix it; with
``--fix`` first repairs the safe cases in one transaction (through
``Database.run_write``, so the API workers' provider snapshots learn of the
changed roots) and prints what it did, then audits again. Exit codes: 0
nothing found (or everything found was repaired), 1 findings remain, 2 the
audit could not run (unreadable list, database error).
"""

import logging
import sys
import uuid

import orjson
from sqlalchemy import exc as sa_exc

from allotment.domain import audit
from allotment.storage import engine

LOG = logging.getLogger(__name__)

CLEAN, FINDINGS, FAILED = 0, 1, 2


class BadList(Exception):
    pass


def read_live(path):
    """The consumer uuids of a file, one a line (blank lines and ``#``
    comments skipped); BadList when a line is no uuid or none is given."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise BadList("cannot read %s: %s" % (path, exc.strerror)) from None
    live = set()
    for number, line in enumerate(lines, 1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        try:
            uuid.UUID(value)
        except ValueError:
            raise BadList(
                "%s line %d is not a consumer uuid: %s" % (path, number, value)
            ) from None
        live.add(value)
    if not live:
        # An empty export would make every consumer look dead.
        raise BadList("%s lists no consumer uuid" % path)
    return live


def render(findings, fixed, where):
    """The report as text."""
    lines = []
    if fixed is not None:
        lines.append(
            "Fixed in one transaction:" if fixed else "Nothing to fix safely."
        )
        lines += ["  " + line for line in fixed]
        lines.append("")
    repairable = sum(f.repairable for f in findings)
    lines.append(
        "Audit of %s: %d finding%s%s."
        % (
            where,
            len(findings),
            "" if len(findings) == 1 else "s",
            " (%d repairable with --fix)" % repairable if repairable else "",
        )
    )
    for kind in audit.KINDS:
        of_kind = [f for f in findings if f.kind == kind]
        if not of_kind:
            continue
        lines += ["", "%s (%d)" % (kind, len(of_kind))]
        for finding in of_kind:
            lines.append("  - " + finding.detail)
            lines += ["      fix: " + command for command in finding.commands]
    return "\n".join(lines)


def run(conf, fix=False, live_file=None, as_json=False):
    """Audit (and repair, with ``fix``) the configured database; prints the
    report and answers the exit code."""
    try:
        live = read_live(live_file) if live_file else None
    except BadList as exc:
        print("ERROR: %s" % exc, file=sys.stderr)
        return FAILED
    database = engine.Database.from_conf(conf)
    try:
        fixed = database.run_write(audit.repair) if fix else None
        with database.read(consistent=True) as conn:
            findings = audit.find(conn, live)
    except sa_exc.SQLAlchemyError as exc:
        LOG.debug("audit failed", exc_info=exc)
        print(
            "ERROR: %s" % str(getattr(exc, "orig", exc)).strip(),
            file=sys.stderr,
        )
        return FAILED
    finally:
        database.dispose()
    if as_json:
        body = {"findings": [f.as_dict() for f in findings]}
        if fixed is not None:
            body["fixed"] = fixed
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(findings, fixed, engine.redacted_url(database.url)))
    return FINDINGS if findings else CLEAN
