"""``allotment import-nova``: moving placement data out of a nova_api database.

Each test runs from and to every backend pair listed in PAIRS.
"""

import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from allotment.cli import main as cli
from allotment.storage import engine
from allotment.storage import tables
from tests import conftest
from tests import support
from tests.backends import nova_api

PAIRS = [(b, b) for b in conftest.BACKENDS]
PAIRS += [
    pair
    for pair in (
        ("mysql", "postgresql"),
        ("postgresql", "mysql"),
        ("sqlite", "postgresql"),
    )
    if set(pair) <= set(conftest.BACKENDS)
]
DATA = (
    "resource_providers",
    "inventories",
    "allocations",
    "consumers",
    "projects",
    "users",
    "placement_aggregates",
    "resource_provider_aggregates",
    "resource_provider_traits",
)


def _write_conf(tmp_path, url):
    path = tmp_path / "placement.conf"
    path.write_text(
        "[api]\nauth_strategy = noauth2\n"
        "[placement_database]\nconnection = %s\n" % url
    )
    return str(path)


@pytest.fixture(params=PAIRS, ids=["%s-to-%s" % pair for pair in PAIRS])
def urls(request, make_database_url):
    source, target = request.param
    return make_database_url(source), make_database_url(target)


def _counts(url):
    database = engine.Database(url)
    try:
        with database.read() as conn:
            return {
                name: conn.scalar(
                    sa.select(sa.func.count()).select_from(
                        tables.metadata.tables[name]
                    )
                )
                for name in (*DATA, "resource_classes", "traits")
            }
    finally:
        database.dispose()


def _import(source_url, conf):
    return cli.main(
        ["import-nova", "--from", source_url, "--config-file", conf]
    )


def test_import_accounts_for_every_row(urls, tmp_path, capsys):
    source_url, target_url = urls
    nova = nova_api.build(source_url)
    conf = _write_conf(tmp_path, target_url)

    assert _import(source_url, conf) == 0
    out = capsys.readouterr().out
    assert "Imported every row" in out
    assert "create_incomplete_consumers |      1      |     1" in out

    database = engine.Database(target_url)
    rp, inv = tables.resource_providers, tables.inventories
    rc, tr = tables.resource_classes, tables.traits
    with database.read() as conn:
        counts = {
            name: conn.scalar(
                sa.select(sa.func.count()).select_from(
                    tables.metadata.tables[name]
                )
            )
            for name in DATA
        }
        assert counts == {
            "resource_providers": 3,
            "inventories": 4,
            "allocations": 4,
            # the consumer without a row got one from the online migration
            "consumers": 3,
            "projects": 2,
            "users": 2,
            "placement_aggregates": 1,
            "resource_provider_aggregates": 2,
            "resource_provider_traits": 3,
        }
        tree = {
            row.uuid: (
                row.id,
                row.root_provider_id,
                row.parent_provider_id,
                row.generation,
            )
            for row in conn.execute(sa.select(rp))
        }
        assert tree == {
            nova["root"]: (20, 20, None, 4),
            nova["child"]: (10, 20, 20, 2),
            nova["old"]: (30, 30, None, 1),
        }
        classes = dict(
            conn.execute(
                sa.select(inv.c.id, rc.c.name).join(
                    rc, rc.c.id == inv.c.resource_class_id
                )
            ).all()
        )
        assert classes == {
            1: "VCPU",
            2: "MEMORY_MB",
            3: "CUSTOM_GOLD",
            4: "DISK_GB",
        }
        traits = set(
            conn.execute(
                sa.select(
                    tables.resource_provider_traits.c.resource_provider_id,
                    tr.c.name,
                ).join(
                    tr, tr.c.id == tables.resource_provider_traits.c.trait_id
                )
            )
        )
        assert traits == {
            (20, "HW_CPU_X86_AVX2"),
            (10, "CUSTOM_FAST"),
            (30, "STORAGE_DISK_SSD"),
        }
    # New rows get fresh ids (PostgreSQL sequences moved past the copy).
    with database.write() as conn:
        conn.execute(tables.projects.insert().values(external_id="new"))
        conn.execute(
            tables.allocations.insert().values(
                resource_provider_id=30,
                consumer_id=nova["consumers"][0],
                resource_class_id=2,
                used=1,
            )
        )
    database.dispose()

    client = support.ApiClient.create(target_url)
    try:
        listed = client.get("/resource_providers", version="1.14")
        assert listed.status_code == 200
        assert {p["uuid"] for p in listed.json["resource_providers"]} == {
            nova["root"],
            nova["child"],
            nova["old"],
        }
        created = client.post(
            "/resource_providers", {"name": "new"}, version="1.20"
        )
        assert created.status_code == 200, created.text
    finally:
        client.close()


def test_second_import_refuses(urls, tmp_path, capsys):
    source_url, target_url = urls
    nova_api.build(source_url)
    conf = _write_conf(tmp_path, target_url)
    assert _import(source_url, conf) == 0
    before = _counts(target_url)
    capsys.readouterr()

    assert _import(source_url, conf) == 1
    err = capsys.readouterr().err
    assert "already holds placement data" in err
    assert "4 inventories" in err
    assert _counts(target_url) == before


def test_not_a_nova_database(make_database_url, tmp_path, capsys):
    target_url = make_database_url("sqlite")
    empty = make_database_url("sqlite")
    sa.create_engine(empty).connect().close()
    assert _import(empty, _write_conf(tmp_path, target_url)) == 1
    assert "no resource_providers table" in capsys.readouterr().err


def test_killed_import_leaves_target_unchanged(urls, tmp_path):
    source_url, target_url = urls
    nova_api.build(source_url, extra_allocations=20000)
    conf = _write_conf(tmp_path, target_url)
    assert cli.main(["db", "sync", "--config-file", conf]) == 0
    before = _counts(target_url)

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "allotment.cli.main",
            "import-nova",
            "--from",
            source_url,
            "--config-file",
            conf,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        for line in proc.stdout:
            if line.startswith("allocations: "):
                break
        else:
            pytest.fail("the import ended before copying allocations")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert _counts(target_url) == before

    # The target is usable: a new import goes through.
    assert _import(source_url, conf) == 0
    assert _counts(target_url)["allocations"] == 20004
