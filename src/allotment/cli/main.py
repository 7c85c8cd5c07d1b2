"""The ``allotment`` command: ``serve`` runs the API under gunicorn.

``db sync|version|stamp REV|online-data-migrations``, ``upgrade-check`` and
``import-nova --from URL`` do the operator's work of placement-manage and
placement-status (cli/manage.py, cli/status.py, cli/nova_import.py);
``snapshot reload`` makes every API worker reload its provider snapshot
(and recounts the project usage totals);
``audit [--fix] [--live-consumers FILE]`` reports (and repairs the safe
ones of) the states no API write leaves behind (cli/audit.py);
``consumers``, ``explain QUERY`` and ``capacity QUERY`` ask a running
server (cli/consumers.py, cli/insight.py, docs/insight.md).

With no configuration at all, ``allotment serve`` keeps an SQLite database in
a local data folder (``./data``, or ``$ALLOTMENT_DATA_DIR``), creates its
schema, and authenticates with noauth2; it says so in its first log line.
"""

import argparse
import ipaddress
import logging
import os
import sys

from allotment import config
from allotment import logs
from allotment.cli import insight

LOG = logging.getLogger("allotment")

DEFAULT_PORT = 8778


def _is_loopback(host):
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config_args(args):
    result = []
    for path in args.config_file or []:
        result += ["--config-file", path]
    if args.config_dir:
        result += ["--config-dir", args.config_dir]
    return result


def load_conf(args):
    """Config from the arguments; the embedded defaults when none given."""
    conf_args = _config_args(args)
    conf = config.load(
        conf_args, default_config_files=[] if not conf_args else None
    )
    embedded = not conf_args and not conf.placement_database.connection
    if embedded:
        folder = os.path.abspath(os.environ.get("ALLOTMENT_DATA_DIR", "data"))
        os.makedirs(folder, exist_ok=True)
        conf.set_override(
            "connection",
            "sqlite:///%s" % os.path.join(folder, "placement.sqlite"),
            group="placement_database",
        )
        conf.set_override("sync_on_startup", True, group="placement_database")
        conf.set_override("auth_strategy", "noauth2", group="api")
    return conf, embedded


def serve(args):
    from allotment import serving

    # Before any metric exists (allotment.metrics).
    remove_metrics_folder = serving.metrics_folder()
    try:
        return _serve(args)
    finally:
        remove_metrics_folder()


def _serve(args):
    from sqlalchemy import exc as sa_exc

    from allotment.api import app as api_app
    from allotment.serving import GunicornServer
    from allotment.storage import engine

    conf, embedded = load_conf(args)
    logs.setup(conf)
    noauth = conf.api.auth_strategy == "noauth2"
    if noauth and not _is_loopback(args.host) and not args.insecure_noauth:
        LOG.error(
            "refusing to listen on %s with auth_strategy = noauth2 "
            "(anyone could act as admin); use a loopback address or "
            "pass --insecure-noauth",
            args.host,
        )
        return 2
    database = engine.Database.from_conf(conf)
    if embedded:
        LOG.info(
            "allotment serving http://%s:%d with an embedded SQLite "
            "database at %s and auth_strategy = noauth2 (no config "
            "given)",
            args.host,
            args.port,
            database.url.database,
        )
    else:
        LOG.info(
            "allotment serving http://%s:%d, database %s, auth_strategy = %s",
            args.host,
            args.port,
            engine.redacted_url(database.url),
            conf.api.auth_strategy,
        )
    try:
        api_app.prepare_database(conf, database)
    except api_app.SchemaMissing as exc:
        LOG.error("%s", exc)
        return 1
    except sa_exc.OperationalError as exc:
        # The driver's message: SQLAlchemy's text may quote SQL.
        LOG.error(
            "database unreachable ([placement_database] max_retries "
            "exhausted): %s",
            str(exc.orig).strip().splitlines()[0],
        )
        return 1
    database.dispose()

    # noauth2 on loopback: the console works in a local browser, which
    # sends no token (api/auth.py).
    local_console = noauth and _is_loopback(args.host)

    def make_app():
        return api_app.build(conf, prepare=False, local_console=local_console)

    GunicornServer(
        make_app,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        timeout=args.timeout,
        graceful_timeout=args.graceful_timeout,
    ).run()
    return 0


def db_command(args):
    from allotment.cli import manage

    conf, _embedded = load_conf(args)
    if args.db_command == "sync":
        return manage.db_sync(conf)
    if args.db_command == "version":
        return manage.db_version(conf)
    if args.db_command == "stamp":
        return manage.db_stamp(conf, args.revision)
    return manage.online_data_migrations(conf, args.max_count)


def upgrade_check(args):
    from allotment.cli import status

    return status.main(
        _config_args(args)
        + ["upgrade", "check"]
        + (["--json"] if args.json else [])
    )


def import_nova(args):
    from allotment.cli import nova_import

    conf, _embedded = load_conf(args)
    return nova_import.import_nova(conf, args.source)


def snapshot_reload(args):
    from allotment.storage import changes
    from allotment.storage import engine
    from allotment.storage import usage_totals

    conf, _embedded = load_conf(args)
    database = engine.Database.from_conf(conf)
    try:
        with database.write() as conn:
            usage_totals.rebuild(conn)
            changes.record_everything(conn)
    finally:
        database.dispose()
    print(
        "Project usage totals recounted. Every API worker of every host "
        "reloads its provider snapshot on its next allocation-candidates "
        "request."
    )
    return 0


def audit_command(args):
    from allotment.cli import audit

    conf, _embedded = load_conf(args)
    return audit.run(conf, args.fix, args.live_consumers, args.json)


def _add_config_args(p):
    p.add_argument(
        "--config-file",
        action="append",
        help="placement.conf (may be repeated)",
    )
    p.add_argument("--config-dir", help="folder of *.conf files")


def _add_operator_parsers(sub):
    p = sub.add_parser("db", help="database schema and data migrations")
    p.set_defaults(func=db_command)
    db = p.add_subparsers(dest="db_command", required=True)
    _add_config_args(
        db.add_parser(
            "sync",
            help="bring the schema to the latest revision (adopts a "
            "reference database)",
        )
    )
    _add_config_args(
        db.add_parser("version", help="print the current schema revision")
    )
    stamp = db.add_parser(
        "stamp", help="record a schema revision without running migrations"
    )
    _add_config_args(stamp)
    stamp.add_argument("revision")
    online = db.add_parser(
        "online-data-migrations", help="fix rows written under older rules"
    )
    _add_config_args(online)
    online.add_argument(
        "--max-count",
        metavar="<number>",
        help="run one batch of at most this many records",
    )

    p = sub.add_parser(
        "upgrade-check",
        help="is the deployment ready for "
        "an upgrade? (placement-status upgrade check)",
    )
    _add_config_args(p)
    p.add_argument(
        "--json", action="store_true", help="print the results as JSON"
    )
    p.set_defaults(func=upgrade_check)

    p = sub.add_parser(
        "import-nova",
        help="copy the placement tables of a "
        "Nova API database into the configured database",
    )
    _add_config_args(p)
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="NOVA_API_URL",
        help="SQLAlchemy URL of the nova_api database",
    )
    p.set_defaults(func=import_nova)

    p = sub.add_parser(
        "snapshot", help="the API workers' in-memory provider snapshots"
    )
    snap = p.add_subparsers(dest="snapshot_command", required=True)
    reload_ = snap.add_parser(
        "reload",
        help="make every API worker reload everything on its next "
        "request (after writing to the database by hand)",
    )
    _add_config_args(reload_)
    reload_.set_defaults(func=snapshot_reload)

    p = sub.add_parser(
        "audit",
        help="find what no API write leaves behind (empty consumers, "
        "allocations without inventory, usage above capacity, NULL roots, "
        "consumers in several trees, dead consumers), reading the "
        "database directly; exit 0 clean, 1 findings, 2 error",
    )
    _add_config_args(p)
    p.add_argument(
        "--fix",
        action="store_true",
        help="first repair the safe cases in one transaction (delete "
        "consumers without allocations, set derivable roots)",
    )
    p.add_argument(
        "--live-consumers",
        metavar="FILE",
        help="a file of the consumer uuids that still exist (one a line, "
        "e.g. from nova); allocations of any other consumer are reported",
    )
    p.add_argument(
        "--json", action="store_true", help="print the findings as JSON"
    )
    p.set_defaults(func=audit_command)

    from allotment.cli import consumers

    consumers.add_parser(sub)


def build_parser():
    parser = argparse.ArgumentParser(prog="allotment")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the Placement API")
    _add_config_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker (gthread worker when > 1)",
    )
    p.add_argument(
        "--timeout",
        type=int,
        default=60,
        help="seconds before a silent worker is restarted",
    )
    p.add_argument(
        "--graceful-timeout",
        type=int,
        default=30,
        help="seconds requests in flight may take to finish after SIGTERM",
    )
    p.add_argument(
        "--insecure-noauth",
        action="store_true",
        help="allow noauth2 on a non-loopback address",
    )
    p.set_defaults(func=serve)
    _add_operator_parsers(sub)
    insight.add_parsers(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
