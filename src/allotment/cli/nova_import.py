"""``allotment import-nova --from NOVA_API_URL``: the extraction from Nova.

Brings the target (the configured placement database) to our schema head,
copies the placement tables of the Nova API database into it in one
transaction (nothing is written when anything fails or the process dies
part-way), checks that every row is accounted for, then runs the online
data migrations. Exit codes: 0 imported, 1 refused or failed (the target is
left as it was), 2 imported but an online migration failed.
"""

import sys

import prettytable
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from allotment.cli import manage
from allotment.storage import engine
from allotment.storage import migrations
from allotment.storage import nova_import


def _progress(line):
    print(line, flush=True)


def _source_engine(url):
    u = engine.normalize_url(url)
    if u.get_backend_name() == "sqlite":
        return sa.create_engine(u)
    return sa.create_engine(u, isolation_level="REPEATABLE READ")


def _copy(source_url, database):
    source_engine = _source_engine(source_url)
    try:
        with source_engine.connect() as source_conn, source_conn.begin():
            source = nova_import.Source(source_conn)
            with database.write() as conn:
                return nova_import.copy_tables(source, conn, _progress)
    finally:
        source_engine.dispose()


def import_nova(conf, source_url):
    """Import ``source_url`` into ``conf``'s database; answer the exit code."""
    database = engine.Database.from_conf(conf)
    try:
        try:
            migrations.upgrade(database)
            summary = _copy(source_url, database)
        except nova_import.NovaImportError as exc:
            print("ERROR: %s" % exc, file=sys.stderr)
            return 1
        except sa_exc.SQLAlchemyError as exc:
            print(
                "ERROR: the import failed and nothing was written: %s" % exc,
                file=sys.stderr,
            )
            return 1
        table = prettytable.PrettyTable(["Table", "Source rows", "Imported"])
        for name in nova_import.ALL_TABLES:
            table.add_row([name, *summary[name]])
        print(table)
        print("Imported every row; running the online data migrations.")
        code = manage.online_data_migrations(conf, database=database)
        return 2 if code == manage.ERRORS else 0
    finally:
        database.dispose()
