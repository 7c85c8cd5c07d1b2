"""The usage totals GET /usages reads (storage/usage_totals.py) stay equal
to a recount from the allocations through every kind of write: claims,
moves to another project, user or consumer type, replacement by none,
DELETE, POST /allocations of several consumers, the online migration that
gives orphan allocations a consumer, and a database handed to the
reference and back."""

import uuid

import sqlalchemy as sa

from allotment.cli import main as cli
from allotment.domain import online_migrations
from allotment.storage import tables
from allotment.storage import usage_totals
from tests import support
from tests.functional.test_usages import allocate
from tests.functional.test_usages import make_provider

QUERIES = [
    ("project_id=p1", "1.9"),
    ("project_id=p2", "1.9"),
    ("project_id=p1", "1.38"),
    ("project_id=p1&user_id=u2", "1.38"),
    ("project_id=p2", "1.38"),
    ("project_id=p1&consumer_type=all", "1.38"),
    ("project_id=p1&consumer_type=unknown", "1.38"),
    ("project_id=p1&consumer_type=MIGRATION", "1.38"),
    ("project_id=incomplete", "1.38"),
]


def _exact(api):
    support.assert_usage_totals_exact(api.db)
    for query, version in QUERIES:
        served = api.get("/usages?" + query, version=version).json
        assert served == support.usages_by_sql(api.db, query, version), query


def _put(api, consumer, allocations, project, user, consumer_type=None):
    mine = api.get("/allocations/" + consumer, version="1.38").json
    body = {
        "allocations": allocations,
        "project_id": project,
        "user_id": user,
        "consumer_generation": mine.get("consumer_generation"),
    }
    version = "1.28"  # keeps the consumer's type
    if consumer_type:
        body["consumer_type"] = consumer_type
        version = "1.38"
    resp = api.put("/allocations/" + consumer, body, version=version)
    assert resp.status_code == 204, resp.text


def test_totals_follow_every_write(api):
    rp1 = make_provider(api, {"VCPU": 64, "MEMORY_MB": 4096}, name="rp1")
    rp2 = make_provider(api, {"VCPU": 64, "DISK_GB": 500}, name="rp2")
    a = allocate(api, rp1, {"VCPU": 2, "MEMORY_MB": 256})
    b = allocate(
        api, rp2, {"VCPU": 1, "DISK_GB": 10}, consumer_type="INSTANCE"
    )
    c = allocate(api, rp2, {"DISK_GB": 5}, user="u2")
    _exact(api)
    # moved to another user and type, then another project
    _put(api, a, {rp2: {"resources": {"VCPU": 3}}}, "p1", "u2", "MIGRATION")
    _exact(api)
    _put(api, a, {rp1: {"resources": {"MEMORY_MB": 8}}}, "p2", "u1")
    _exact(api)
    # replaced by nothing: the consumer goes
    _put(api, c, {}, "p1", "u2")
    _exact(api)
    # several consumers at once, one of them emptied
    d = str(uuid.uuid4())
    resp = api.post(
        "/allocations",
        {
            d: {
                "allocations": {rp1: {"resources": {"VCPU": 4}}},
                "project_id": "p1",
                "user_id": "u1",
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
            },
            b: {
                "allocations": {},
                "project_id": "p1",
                "user_id": "u1",
                "consumer_generation": 1,
                "consumer_type": "INSTANCE",
            },
        },
        version="1.38",
    )
    assert resp.status_code == 204, resp.text
    _exact(api)
    assert api.delete("/allocations/" + a).status_code == 204
    _exact(api)
    # a refused claim writes nothing
    resp = api.put(
        "/allocations/" + str(uuid.uuid4()),
        {
            "allocations": {rp1: {"resources": {"VCPU": 1000}}},
            "project_id": "p1",
            "user_id": "u1",
            "consumer_generation": None,
        },
        version="1.28",
    )
    assert resp.status_code == 409
    _exact(api)


def test_orphan_allocations_count_once_migrated(api):
    """Allocations without a consumer row (written before consumers
    existed) count from the moment the online migration gives them one."""
    rp = make_provider(api, {"VCPU": 64}, name="rp1")
    allocate(api, rp, {"VCPU": 2})
    orphan = str(uuid.uuid4())
    with api.db.write() as conn:
        rp_id = conn.scalar(
            sa.select(tables.resource_providers.c.id).where(
                tables.resource_providers.c.uuid == rp
            )
        )
        conn.execute(
            tables.allocations.insert().values(
                resource_provider_id=rp_id,
                consumer_id=orphan,
                resource_class_id=0,
                used=3,
            )
        )
    _exact(api)
    api.conf.set_override(
        "incomplete_consumer_project_id", "incomplete", group="placement"
    )
    online_migrations.run_batch(api.db, api.conf, 10, lambda *_a: None)
    assert api.get("/usages?project_id=incomplete").json["usages"] == {
        "unknown": {"VCPU": 3, "consumer_count": 1}
    }
    _exact(api)


def test_totals_recounted_after_the_reference_wrote(api, tmp_path):
    """``db stamp a082b8bb98d0`` hands the database to the reference, which
    writes allocations without keeping the totals; the ``db sync`` that
    comes back recounts them."""
    rp = make_provider(api, {"VCPU": 64}, name="rp1")
    consumer = allocate(api, rp, {"VCPU": 2})
    conf = tmp_path / "placement.conf"
    conf.write_text(
        "[placement_database]\nconnection = %s\n"
        % api.conf.placement_database.connection
    )
    args = ["--config-file", str(conf)]
    assert cli.main(["db", "stamp", "a082b8bb98d0", *args]) == 0
    with api.db.engine.begin() as conn:  # as the reference would
        conn.execute(
            tables.allocations.update()
            .where(tables.allocations.c.consumer_id == consumer)
            .values(used=5)
        )
    assert cli.main(["db", "sync", *args]) == 0
    assert api.get("/usages?project_id=p1", version="1.9").json == {
        "usages": {"VCPU": 5}
    }
    _exact(api)


def test_rebuild_counts_only_consumers_with_allocations(api):
    rp = make_provider(api, {"VCPU": 64}, name="rp1")
    allocate(api, rp, {"VCPU": 2}, project="p1")
    with api.db.write() as conn:
        usage_totals.rebuild(conn)
        assert conn.execute(
            sa.select(tables.consumer_totals.c.consumers)
        ).all() == [(1,)]
    _exact(api)


def test_snapshot_reload_recounts_after_sql_by_hand(api, tmp_path):
    rp = make_provider(api, {"VCPU": 64}, name="rp1")
    consumer = allocate(api, rp, {"VCPU": 2})
    with api.db.engine.begin() as conn:
        conn.execute(
            tables.allocations.update()
            .where(tables.allocations.c.consumer_id == consumer)
            .values(used=7)
        )
    conf = tmp_path / "placement.conf"
    conf.write_text(
        "[placement_database]\nconnection = %s\n"
        % api.conf.placement_database.connection
    )
    assert cli.main(["snapshot", "reload", "--config-file", str(conf)]) == 0
    assert api.get("/usages?project_id=p1", version="1.9").json == {
        "usages": {"VCPU": 7}
    }
    _exact(api)


def test_maintenance_check_repairs_sql_by_hand(api):
    """The usage totals check (run by one worker of the deployment per
    interval: tests/functional/test_periodic.py) compares the totals with
    a recount and rebuilds them on a difference, so SQL by hand is
    repaired without an operator's command."""
    rp = make_provider(api, {"VCPU": 64}, name="rp1")
    consumer = allocate(api, rp, {"VCPU": 2})
    assert usage_totals.check(api.db) == []
    with api.db.engine.begin() as conn:
        conn.execute(
            tables.allocations.update()
            .where(tables.allocations.c.consumer_id == consumer)
            .values(used=7)
        )
    assert usage_totals.check(api.db) == [
        "allotment_usage_totals: 2 rows differ"
    ]
    assert api.get("/usages?project_id=p1", version="1.9").json == {
        "usages": {"VCPU": 7}
    }
    _exact(api)
    assert usage_totals.check(api.db) == []


def test_the_usage_totals_check_runs_in_the_background(database_url):
    import time

    client = support.ApiClient.create(
        database_url, allotment__snapshot_check_interval=1
    )
    try:
        rp = make_provider(client, {"VCPU": 64}, name="rp1")
        consumer = allocate(client, rp, {"VCPU": 2})
        with client.db.engine.begin() as conn:
            conn.execute(
                tables.allocations.update()
                .where(tables.allocations.c.consumer_id == consumer)
                .values(used=7)
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with client.db.read(consistent=True) as conn:
                if not usage_totals.differences(conn):
                    break
            time.sleep(0.05)
        assert client.get("/usages?project_id=p1", version="1.9").json == {
            "usages": {"VCPU": 7}
        }
    finally:
        client.close()
