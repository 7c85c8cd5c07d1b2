"""placement-manage (and ``allotment db``), on every backend."""

import os
import pathlib
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from allotment.cli import main as allotment_cli
from allotment.cli import manage
from allotment.storage import changes
from allotment.storage import clock
from allotment.storage import engine
from allotment.storage import migrations
from allotment.storage import periodic
from allotment.storage import tables

HEAD = migrations.head_revision()
INCOMPLETE = "00000000-0000-0000-0000-000000000000"
BIN = pathlib.Path(sys.executable).parent


def write_conf(folder, url, extra=""):
    path = folder / "placement.conf"
    path.write_text(
        "[api]\nauth_strategy = noauth2\n"
        "[placement_database]\nconnection = %s\n%s" % (url, extra)
    )
    return str(path)


@pytest.fixture
def conf(database_url, tmp_path):
    return write_conf(tmp_path, database_url)


def manage_cmd(conf, *args):
    return manage.main(["--config-file", conf, *args])


def add_stale_rows(url, providers, consumers):
    """Providers with a NULL root and allocations with no consumers row,
    as databases written before the current rules hold them."""
    database = engine.Database(url)
    with database.write() as conn:
        if providers:
            conn.execute(
                tables.resource_providers.insert(),
                [
                    {
                        "uuid": str(uuid.uuid4()),
                        "name": "old-%d" % n,
                        "generation": 0,
                    }
                    for n in range(providers)
                ],
            )
        # allocations.resource_provider_id has no foreign key
        rp_id = (
            conn.scalar(sa.select(sa.func.min(tables.resource_providers.c.id)))
            or 1
        )
        rows = []
        for _ in range(consumers):
            consumer = str(uuid.uuid4())
            # two allocations per consumer: still one consumer to create
            rows += [
                {
                    "resource_provider_id": rp_id,
                    "consumer_id": consumer,
                    "resource_class_id": rc,
                    "used": 1,
                }
                for rc in (0, 1)
            ]
        if rows:
            conn.execute(tables.allocations.insert(), rows)
    database.dispose()


def pending(url):
    database = engine.Database(url)
    with database.read() as conn:
        roots = conn.scalar(
            sa.select(sa.func.count()).where(
                tables.resource_providers.c.root_provider_id.is_(None)
            )
        )
        consumers = conn.execute(
            sa.select(
                tables.consumers.c.uuid,
                tables.projects.c.external_id,
                tables.users.c.external_id,
            )
            .join(
                tables.projects,
                tables.projects.c.id == tables.consumers.c.project_id,
            )
            .join(
                tables.users, tables.users.c.id == tables.consumers.c.user_id
            )
        ).all()
    database.dispose()
    return roots, consumers


def test_sync_version_stamp(conf, capsys):
    assert manage_cmd(conf, "db", "version") == 0
    assert capsys.readouterr().out == "None\n"
    assert manage_cmd(conf, "db", "sync") == 0
    assert manage_cmd(conf, "db", "version") == 0
    assert capsys.readouterr().out == HEAD + "\n"
    # sync again is a no-op
    assert manage_cmd(conf, "db", "sync") == 0
    assert manage_cmd(conf, "db", "stamp", "422ece571366") == 0
    assert manage_cmd(conf, "db", "version") == 0
    assert capsys.readouterr().out == "422ece571366\n"
    assert manage_cmd(conf, "db", "stamp", "head") == 0
    assert manage_cmd(conf, "db", "stamp", "nonsense") == 1
    assert "Can't locate revision identified by 'nonsense'" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("start", ["a082b8bb98d0", "3d9a41c7e5b2"])
def test_sync_from_an_older_revision_adds_the_periodic_tasks(
    conf, database_url, start
):
    """``db sync`` from the reference's last revision or from our previous
    head reaches the head, whose periodic tasks the workers claim; a round
    trip to the reference (``db stamp a082b8bb98d0``, ``db sync``) keeps
    when each task last ran."""
    database = engine.Database(database_url)
    try:
        migrations.upgrade(database, start)
        assert manage_cmd(conf, "db", "sync") == 0
        assert migrations.current_revision(database) == HEAD
        assert periodic.claim(database, "test.task", 3600, "a") is True
        assert manage_cmd(conf, "db", "stamp", "a082b8bb98d0") == 0
        assert manage_cmd(conf, "db", "sync") == 0
        assert migrations.current_revision(database) == HEAD
        assert periodic.claim(database, "test.task", 3600, "b") is False
    finally:
        database.dispose()


def test_sync_adds_usage_only_to_the_change_log(conf, database_url):
    """``db sync`` from the previous head adds the log's ``usage_only``
    column; an entry a release without it wrote (NULL) reads as "anything
    of the provider changed"; a round trip to the reference keeps the
    column and the entries."""
    database = engine.Database(database_url)
    log, head = tables.provider_changes, tables.change_head
    try:
        migrations.upgrade(database, "8e4b6f0a2c19")
        with database.engine.begin() as conn:  # as the previous release
            before = conn.scalar(sa.select(head.c.seq))
            conn.execute(head.update().values(seq=head.c.seq + 1))
            conn.execute(
                sa.text(
                    "INSERT INTO allotment_provider_changes "
                    "(seq, provider_id, created_at) VALUES (:seq, 7, :at)"
                ),
                {"seq": before + 1, "at": clock.utcnow()},
            )
        assert manage_cmd(conf, "db", "sync") == 0
        assert migrations.current_revision(database) == HEAD
        with database.read(consistent=True) as conn:
            assert changes.since(conn, before) == (before + 1, {7: False})
        with database.write() as conn:
            changes.record(conn, [7], usage_only=True)
        assert manage_cmd(conf, "db", "stamp", "a082b8bb98d0") == 0
        assert manage_cmd(conf, "db", "sync") == 0
        assert migrations.current_revision(database) == HEAD
        with database.read() as conn:
            rows = conn.execute(
                sa.select(log.c.provider_id, log.c.usage_only)
                .where(log.c.seq > before)
                .order_by(log.c.seq)
            ).all()
        # (the round trip's own "everything changed" entry comes last)
        assert [tuple(r) for r in rows] == [(7, None), (7, True), (None, None)]
    finally:
        database.dispose()


def test_online_migrations_batch_by_batch(conf, database_url, capsys):
    assert manage_cmd(conf, "db", "sync") == 0
    add_stale_rows(database_url, providers=3, consumers=4)
    capsys.readouterr()

    assert (
        manage_cmd(conf, "db", "online_data_migrations", "--max-count", "2")
        == manage.MORE_TO_DO
    )
    out = capsys.readouterr().out
    assert "2 rows matched query set_root_provider_ids, 2 migrated" in out
    assert "create_incomplete_consumers" not in out
    assert pending(database_url) == (1, [])

    assert (
        manage_cmd(conf, "db", "online_data_migrations", "--max-count", "3")
        == manage.MORE_TO_DO
    )
    out = capsys.readouterr().out
    assert "1 rows matched query set_root_provider_ids, 1 migrated" in out
    assert "2 rows matched query create_incomplete_consumers, 2 migrated" in (
        out
    )
    roots, consumers = pending(database_url)
    assert roots == 0 and len(consumers) == 2
    assert {(p, u) for _c, p, u in consumers} == {(INCOMPLETE, INCOMPLETE)}

    assert (
        manage_cmd(conf, "db", "online_data_migrations", "--max-count", "5")
        == manage.MORE_TO_DO
    )
    assert (
        manage_cmd(conf, "db", "online_data_migrations", "--max-count", "5")
        == manage.DONE
    )
    out = capsys.readouterr().out
    assert "|    set_root_provider_ids    |      0      |     0     |" in out
    assert len(pending(database_url)[1]) == 4


def test_online_migrations_until_complete(
    conf, database_url, capsys, tmp_path
):
    conf = write_conf(
        tmp_path,
        database_url,
        "[placement]\nincomplete_consumer_project_id = p-old\n"
        "incomplete_consumer_user_id = u-old\n",
    )
    assert manage_cmd(conf, "db", "sync") == 0
    add_stale_rows(database_url, providers=1, consumers=60)
    capsys.readouterr()
    assert manage_cmd(conf, "db", "online_data_migrations") == manage.DONE
    out = capsys.readouterr().out
    assert out.startswith("Running batches of 50 until complete\n")
    assert "49 rows matched query create_incomplete_consumers" in out
    assert "11 rows matched query create_incomplete_consumers" in out
    assert "| create_incomplete_consumers |      60     |     60    |" in out
    roots, consumers = pending(database_url)
    assert roots == 0
    assert {(p, u) for _c, p, u in consumers} == {("p-old", "u-old")}


@pytest.mark.parametrize("count", ["0", "-3", "many"])
def test_bad_max_count(sqlite_conf, count, capsys):
    assert (
        manage_cmd(
            sqlite_conf, "db", "online_data_migrations", "--max-count", count
        )
        == manage.BAD_INPUT
    )
    assert capsys.readouterr().out == (
        "Must supply a positive value for max_count\n"
    )


@pytest.fixture
def sqlite_conf(tmp_path):
    return write_conf(tmp_path, "sqlite:///%s" % (tmp_path / "p.sqlite"))


def test_failing_migration_exit_code(sqlite_conf, capsys, monkeypatch):
    assert manage_cmd(sqlite_conf, "db", "sync") == 0

    def broken(conn, conf, batch):
        raise RuntimeError("boom")

    monkeypatch.setattr(
        "allotment.domain.online_migrations.MIGRATIONS",
        (("set_root_provider_ids", broken),),
    )
    assert manage_cmd(sqlite_conf, "db", "online_data_migrations") == (
        manage.ERRORS
    )
    out = capsys.readouterr().out
    assert "Error attempting to run set_root_provider_ids" in out
    assert "Some migrations failed unexpectedly. Check log for details." in out


def test_no_command_prints_help(sqlite_conf, capsys):
    assert manage.main(["--config-file", sqlite_conf]) == 1
    assert manage.main(["--config-file", sqlite_conf, "db"]) == 0
    assert "online_data_migrations" in capsys.readouterr().out


def test_allotment_db_subcommands(sqlite_conf, capsys):
    run = allotment_cli.main
    assert run(["db", "sync", "--config-file", sqlite_conf]) == 0
    assert run(["db", "version", "--config-file", sqlite_conf]) == 0
    assert capsys.readouterr().out == HEAD + "\n"
    assert (
        run(
            [
                "db",
                "online-data-migrations",
                "--max-count",
                "10",
                "--config-file",
                sqlite_conf,
            ]
        )
        == 0
    )
    assert (
        run(["db", "stamp", "b5c396305c25", "--config-file", sqlite_conf]) == 0
    )


def test_sync_refuses_when_data_needs_migrating(sqlite_conf, tmp_path, capsys):
    """A database left at a reference revision from before the blockers,
    with providers missing their root, is not upgraded past them."""
    url = "sqlite:///%s" % (tmp_path / "p.sqlite")
    assert manage_cmd(sqlite_conf, "db", "sync") == 0
    add_stale_rows(url, providers=1, consumers=0)
    assert manage_cmd(sqlite_conf, "db", "stamp", "b4ed3a175331") == 0
    capsys.readouterr()
    assert manage_cmd(sqlite_conf, "db", "sync") == 1
    err = capsys.readouterr().err
    assert "online_data_migrations" in err
    assert manage_cmd(sqlite_conf, "db", "version") == 0
    assert capsys.readouterr().out == "b4ed3a175331\n"


def test_placement_api_script(tmp_path):
    """The installed script is a WSGI file (``application``) for mod_wsgi
    and uwsgi."""
    folder = tmp_path / "etc"
    folder.mkdir()
    write_conf(
        folder,
        "sqlite:///%s" % (tmp_path / "p.sqlite"),
        "[placement_database]\nsync_on_startup = True\n",
    )
    probe = (
        "import runpy, falcon.testing as t\n"
        "ns = runpy.run_path(%r, run_name='_mod_wsgi_probe')\n"
        "r = t.TestClient(ns['application']).simulate_get(\n"
        "    '/resource_classes', headers={'x-auth-token': 'admin',\n"
        "    'openstack-api-version': 'placement 1.2'})\n"
        "print(r.status_code, len(r.json['resource_classes']) > 10)\n"
        % str(BIN / "placement-api")
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=dict(os.environ, OS_PLACEMENT_CONFIG_DIR=str(folder)),
    )
    assert done.stdout == "200 True\n", done.stderr
