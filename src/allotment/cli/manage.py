"""``placement-manage``: the reference's database command, for allotment.

``placement-manage [--config-file F] db sync | db version | db stamp REV |
db online_data_migrations [--max-count N]`` takes the same arguments and
prints the same output with the same exit codes as the reference, so
deployment tools run it unchanged. The same work is reachable as
``allotment db ...`` (see cli/main.py), through the functions below.
"""

import logging
import sys

import prettytable
from alembic import util as alembic_util
from oslo_config import cfg
from sqlalchemy import exc as sa_exc

from allotment import config
from allotment import logs
from allotment.domain import online_migrations
from allotment.storage import engine
from allotment.storage import migrations

LOG = logging.getLogger(__name__)

DEFAULT_BATCH = 50

# Exit codes of online_data_migrations.
DONE, MORE_TO_DO, ERRORS, BAD_INPUT = 0, 1, 2, 127


def _database(conf):
    return engine.Database.from_conf(conf)


def _fail(message):
    print("ERROR: %s" % message, file=sys.stderr)
    return 1


def db_sync(conf):
    """Bring the schema to our head revision (adopting a reference one)."""
    database = _database(conf)
    try:
        migrations.upgrade(database)
    except (
        RuntimeError,
        alembic_util.CommandError,
        sa_exc.SQLAlchemyError,
    ) as exc:
        LOG.debug("db sync failed", exc_info=exc)
        return _fail(exc)
    finally:
        database.dispose()
    return 0


def db_version(conf):
    database = _database(conf)
    try:
        print(migrations.current_revision(database))
    finally:
        database.dispose()
    return 0


def db_stamp(conf, revision):
    database = _database(conf)
    try:
        migrations.stamp(database, revision)
    except alembic_util.CommandError as exc:
        return _fail(exc)
    finally:
        database.dispose()
    return 0


def _parse_max_count(max_count):
    """The batch size asked for; None for "all"; 0 for bad input."""
    if max_count is None:
        return None
    try:
        value = int(max_count)
    except ValueError:
        return 0
    return max(value, 0)


def _on_error(name, exc):
    message = "Error attempting to run %s" % name
    print(message)
    LOG.error("%s: %s", message, exc, exc_info=exc)


def _batch(database, conf, max_count):
    results, failed = online_migrations.run_batch(
        database, conf, max_count, _on_error
    )
    for name, (found, done) in results.items():
        if found:
            print(
                "%i rows matched query %s, %i migrated" % (found, name, done)
            )
    return results, failed


def online_data_migrations(conf, max_count=None, database=None):
    """Run the online migrations: one batch when ``max_count`` is given,
    batches of 50 until nothing is left otherwise. Prints the reference's
    summary table and answers its exit code."""
    limited = max_count is not None
    batch = _parse_max_count(max_count)
    if limited and batch < 1:
        print("Must supply a positive value for max_count")
        return BAD_INPUT
    if not limited:
        batch = DEFAULT_BATCH
        print("Running batches of %i until complete" % batch)
    owned = database is None
    database = database or _database(conf)
    totals = {}
    try:
        while True:
            results, failed = _batch(database, conf, batch)
            ran = 0
            for name, (found, done) in results.items():
                old_found, old_done = totals.get(name, (0, 0))
                totals[name] = (old_found + found, old_done + done)
                ran += done
            if limited or not ran:
                break
    finally:
        if owned:
            database.dispose()
    table = prettytable.PrettyTable(["Migration", "Total Found", "Completed"])
    for name, (found, done) in totals.items():
        table.add_row([name, found, done])
    print(table)
    # A limited run that made progress may have unblocked what failed.
    if failed and not (limited and ran):
        print("Some migrations failed unexpectedly. Check log for details.")
        return ERRORS
    return MORE_TO_DO if ran else DONE


def _add_db_parsers(subparsers):
    # Without a command, print the help (exit 1) rather than fail parsing.
    subparsers.required = False
    db = subparsers.add_parser("db")
    db.set_defaults(action=None, help_parser=db)
    commands = db.add_subparsers(description="database commands")
    text = "Sync the database to the current version."
    commands.add_parser("sync", help=text, description=text).set_defaults(
        action="sync"
    )
    text = "Report the current database version."
    commands.add_parser("version", help=text, description=text).set_defaults(
        action="version"
    )
    text = "Stamp the revision table with the given version."
    stamp = commands.add_parser("stamp", help=text, description=text)
    stamp.add_argument("version", help="the version to stamp")
    stamp.set_defaults(action="stamp")
    text = "Run the online data migrations."
    online = commands.add_parser(
        "online_data_migrations", help=text, description=text
    )
    online.add_argument(
        "--max-count",
        metavar="<number>",
        help="Maximum number of objects to consider",
    )
    online.set_defaults(action="online_data_migrations")


def _run(conf):
    command = conf.command
    if command.action == "sync":
        return db_sync(conf)
    if command.action == "version":
        return db_version(conf)
    if command.action == "stamp":
        return db_stamp(conf, command.version)
    return online_data_migrations(conf, command.max_count)


def main(argv=None):
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf.register_cli_opt(
        cfg.SubCommandOpt(
            "db",
            dest="command",
            title="Command",
            help="Available DB commands",
            handler=_add_db_parsers,
        )
    )
    conf(sys.argv[1:] if argv is None else list(argv), project="placement")
    logs.setup(conf, level=logging.WARNING)
    try:
        command = conf.command
        action = command.action
    except cfg.NoSuchOptError:
        conf.print_help()
        return 1
    if action is None:
        command.help_parser.print_help()
        return 0
    if not conf.placement_database.connection:
        return _fail("[placement_database] connection is not set")
    return _run(conf)
