"""The provider change log, on every backend: each write through the API that
changes what the allocation-candidates engine sees of a provider (its
existence, name, tree, inventory, usage, traits, aggregates) leaves the
provider's id in the log, read here as a snapshot reads it
(``changes.since``); a refused write records nothing.
"""

import uuid

import pytest
import sqlalchemy as sa

from allotment.cli import main as cli
from allotment.domain import online_migrations
from allotment.storage import changes
from allotment.storage import tables
from tests.backends import nova_api

RP = tables.resource_providers
PROJECT = "b2e599e0-ded8-47fd-b8ab-ceb7fca578bd"
USER = "8c974f9a-f266-42f7-8613-a8017cbfb87f"
SERVICE = {"x-roles": "admin,service"}


class _Reader:
    """Reads the log as a snapshot does: from the last number it saw.
    ``usage_only``: those of the providers last found changed of which
    only the usage did."""

    def __init__(self, api):
        self.api = api
        self.usage_only = set()
        with api.db.read() as conn:
            self.last = changes.head(conn)

    def changed(self):
        with self.api.db.read(consistent=True) as conn:
            self.last, found = changes.since(conn, self.last)
        if found is changes.EVERYTHING:
            self.usage_only = set()
            return found
        self.usage_only = {rp_id for rp_id, usage in found.items() if usage}
        return set(found)


def _cursor(api):
    """A reader that has read the log up to now."""
    return _Reader(api)


def _changed(api, cursor):
    return cursor.changed()


def _id(api, rp_uuid):
    with api.db.read() as conn:
        return conn.scalar(sa.select(RP.c.id).where(RP.c.uuid == rp_uuid))


def _ok(resp):
    assert resp.status_code < 300, resp.text
    return resp


def _provider(api, name, parent=None):
    rp_uuid = str(uuid.uuid4())
    body = {"name": name, "uuid": rp_uuid}
    if parent:
        body["parent_provider_uuid"] = parent
    _ok(api.post("/resource_providers", body, version="1.14"))
    return rp_uuid


def _generation(api, rp_uuid):
    return api.get("/resource_providers/%s" % rp_uuid).json["generation"]


def _inventory(api, rp_uuid, **totals):
    _ok(
        api.put(
            "/resource_providers/%s/inventories" % rp_uuid,
            {
                "resource_provider_generation": _generation(api, rp_uuid),
                "inventories": {
                    rc: {"total": total} for rc, total in totals.items()
                },
            },
        )
    )


def _allocation(rp_resources, generation=None):
    return {
        "allocations": {
            rp: {"resources": res} for rp, res in rp_resources.items()
        },
        "project_id": PROJECT,
        "user_id": USER,
        "consumer_generation": generation,
    }


def _consumer_generation(api, consumer):
    return api.get("/allocations/%s" % consumer, version="1.28").json.get(
        "consumer_generation"
    )


def test_provider_create_rename_move_delete(api):
    cursor = _cursor(api)
    root = _provider(api, "root")
    child = _provider(api, "child", parent=root)
    grandchild = _provider(api, "grandchild", parent=child)
    other = _provider(api, "other")
    ids = {rp: _id(api, rp) for rp in (root, child, grandchild, other)}
    assert _changed(api, cursor) == set(ids.values())

    _ok(api.put("/resource_providers/%s" % root, {"name": "renamed"}))
    assert _changed(api, cursor) == {ids[root]}

    # Moving a subtree to another tree changes the root of all of it.
    _ok(
        api.put(
            "/resource_providers/%s" % child,
            {"name": "child", "parent_provider_uuid": other},
            version="1.37",
        )
    )
    assert _changed(api, cursor) == {ids[child], ids[grandchild]}

    # Within one tree only the moved provider's parent changes.
    _ok(
        api.put(
            "/resource_providers/%s" % grandchild,
            {"name": "grandchild", "parent_provider_uuid": other},
            version="1.37",
        )
    )
    assert _changed(api, cursor) == {ids[grandchild]}

    _ok(
        api.put(
            "/resource_providers/%s" % child,
            {"name": "child", "parent_provider_uuid": None},
            version="1.37",
        )
    )
    assert _changed(api, cursor) == {ids[child]}

    _ok(api.delete("/resource_providers/%s" % grandchild))
    assert _changed(api, cursor) == {ids[grandchild]}

    # Refused writes leave nothing behind.
    assert api.delete("/resource_providers/%s" % other).status_code == 204
    assert _changed(api, cursor) == {ids[other]}
    assert (
        api.put(
            "/resource_providers/%s" % child, {"name": "renamed"}
        ).status_code
        == 409
    )
    assert _changed(api, cursor) == set()


def test_inventory_writes(api):
    rp = _provider(api, "compute")
    rp_id = _id(api, rp)
    cursor = _cursor(api)
    path = "/resource_providers/%s/inventories" % rp

    _ok(
        api.post(
            path,
            {
                "resource_class": "VCPU",
                "total": 8,
                "resource_provider_generation": 0,
            },
        )
    )
    assert _changed(api, cursor) == {rp_id}

    _ok(
        api.put(
            path + "/VCPU", {"total": 16, "resource_provider_generation": 1}
        )
    )
    assert _changed(api, cursor) == {rp_id}

    _inventory(api, rp, VCPU=16, MEMORY_MB=2048)
    assert _changed(api, cursor) == {rp_id}

    _ok(api.delete(path + "/MEMORY_MB"))
    assert _changed(api, cursor) == {rp_id}

    _ok(api.delete(path, version="1.5"))
    assert _changed(api, cursor) == {rp_id}

    # A stale generation changes nothing.
    assert (
        api.put(
            path + "/VCPU", {"total": 4, "resource_provider_generation": 0}
        ).status_code
        == 409
    )
    assert _changed(api, cursor) == set()


def test_traits_and_aggregates(api):
    rp = _provider(api, "compute")
    rp_id = _id(api, rp)
    cursor = _cursor(api)

    traits = "/resource_providers/%s/traits" % rp
    _ok(
        api.put(
            traits,
            {"traits": ["HW_CPU_X86_AVX2"], "resource_provider_generation": 0},
            version="1.6",
        )
    )
    assert _changed(api, cursor) == {rp_id}
    _ok(api.delete(traits, version="1.6"))
    assert _changed(api, cursor) == {rp_id}

    aggregates = "/resource_providers/%s/aggregates" % rp
    agg = str(uuid.uuid4())
    # The plain-list form leaves the generation alone but still records.
    before = _generation(api, rp)
    _ok(api.put(aggregates, [agg], version="1.1"))
    assert _generation(api, rp) == before
    assert _changed(api, cursor) == {rp_id}
    _ok(
        api.put(
            aggregates,
            {"aggregates": [], "resource_provider_generation": before},
            version="1.19",
        )
    )
    assert _changed(api, cursor) == {rp_id}


def test_unchanged_aggregates_with_a_generation_record(api):
    # From 1.19 a PUT of the aggregates a provider already has still bumps
    # its generation (the provider list shows it), so it is logged too.
    rp = _provider(api, "compute")
    rp_id = _id(api, rp)
    aggregates = "/resource_providers/%s/aggregates" % rp
    body = {"aggregates": [str(uuid.uuid4())]}
    for generation in (0, 1):
        cursor = _cursor(api)
        body["resource_provider_generation"] = generation
        _ok(api.put(aggregates, body, version="1.19"))
        assert _generation(api, rp) == generation + 1
        assert _changed(api, cursor) == {rp_id}


@pytest.mark.parametrize(
    "returning", [True, False], ids=["delete-returning", "select-then-delete"]
)
def test_allocation_writes(api, returning, monkeypatch):
    # Databases without DELETE ... RETURNING (MySQL) read the providers a
    # consumer leaves before deleting its allocations.
    if not returning:
        monkeypatch.setattr(api.db.engine.dialect, "delete_returning", False)
    first = _provider(api, "first")
    second = _provider(api, "second")
    third = _provider(api, "third")
    for rp in (first, second, third):
        _inventory(api, rp, VCPU=8)
    ids = {rp: _id(api, rp) for rp in (first, second, third)}
    server, other = str(uuid.uuid4()), str(uuid.uuid4())
    cursor = _cursor(api)

    _ok(
        api.put(
            "/allocations/%s" % server,
            _allocation({first: {"VCPU": 1}}),
            version="1.28",
        )
    )
    assert _changed(api, cursor) == {ids[first]}
    assert cursor.usage_only == {ids[first]}

    # Moving the consumer changes the usage of the provider it left too,
    # though that provider keeps its generation.
    left = _generation(api, first)
    _ok(
        api.put(
            "/allocations/%s" % server,
            _allocation(
                {second: {"VCPU": 1}}, _consumer_generation(api, server)
            ),
            version="1.28",
        )
    )
    assert _generation(api, first) == left
    assert _changed(api, cursor) == {ids[first], ids[second]}
    assert cursor.usage_only == {ids[first], ids[second]}

    # Several consumers at once: one removed, one new.
    _ok(
        api.post(
            "/allocations",
            {
                server: _allocation({}, _consumer_generation(api, server)),
                other: _allocation({third: {"VCPU": 2}}),
            },
            version="1.28",
        )
    )
    assert _changed(api, cursor) == {ids[second], ids[third]}
    assert cursor.usage_only == {ids[second], ids[third]}

    # DELETE drops the usage without bumping the generation.
    held = _generation(api, third)
    _ok(api.delete("/allocations/%s" % other))
    assert _generation(api, third) == held
    assert _changed(api, cursor) == {ids[third]}
    assert cursor.usage_only == {ids[third]}

    # Refused writes record nothing.
    assert api.delete("/allocations/%s" % other).status_code == 404
    assert (
        api.put(
            "/allocations/%s" % server,
            _allocation({first: {"VCPU": 99}}),
            version="1.28",
        ).status_code
        == 409
    )
    assert _changed(api, cursor) == set()


def test_reshaper(api):
    root = _provider(api, "root")
    gpu = _provider(api, "gpu", parent=root)
    _inventory(api, root, VGPU=2)
    server = str(uuid.uuid4())
    _ok(
        api.put(
            "/allocations/%s" % server,
            _allocation({root: {"VGPU": 1}}),
            version="1.28",
        )
    )
    cursor = _cursor(api)

    _ok(
        api.post(
            "/reshaper",
            {
                "inventories": {
                    root: {
                        "resource_provider_generation": _generation(api, root),
                        "inventories": {},
                    },
                    gpu: {
                        "resource_provider_generation": _generation(api, gpu),
                        "inventories": {"VGPU": {"total": 2}},
                    },
                },
                "allocations": {
                    server: _allocation(
                        {gpu: {"VGPU": 1}}, _consumer_generation(api, server)
                    ),
                },
            },
            version="1.30",
            headers=SERVICE,
        )
    )
    assert _changed(api, cursor) == {_id(api, root), _id(api, gpu)}
    # their inventories changed too: everything of them is read again
    assert cursor.usage_only == set()


def test_usage_only_entries_give_way_to_any_other(api):
    """A provider whose usage and something else changed since the reader
    looked, in one write or in several, is read again whole."""
    first = _provider(api, "first")
    second = _provider(api, "second")
    for rp in (first, second):
        _inventory(api, rp, VCPU=8)
    ids = {rp: _id(api, rp) for rp in (first, second)}
    cursor = _cursor(api)

    _ok(
        api.put(
            "/allocations/%s" % uuid.uuid4(),
            _allocation({first: {"VCPU": 1}, second: {"VCPU": 1}}),
            version="1.28",
        )
    )
    _ok(
        api.put(
            "/resource_providers/%s/traits" % first,
            {
                "resource_provider_generation": _generation(api, first),
                "traits": ["HW_CPU_X86_AVX"],
            },
            version="1.6",
        )
    )
    assert _changed(api, cursor) == {ids[first], ids[second]}
    assert cursor.usage_only == {ids[second]}

    # The reshaper: an inventory replaced and allocations moved in one
    # transaction; a provider that only receives allocations is usage only.
    server = str(uuid.uuid4())
    _ok(
        api.put(
            "/allocations/%s" % server,
            _allocation({first: {"VCPU": 2}}),
            version="1.28",
        )
    )
    _changed(api, cursor)
    _ok(
        api.post(
            "/reshaper",
            {
                "inventories": {
                    first: {
                        "resource_provider_generation": _generation(
                            api, first
                        ),
                        "inventories": {"VCPU": {"total": 6}},
                    },
                },
                "allocations": {
                    server: _allocation(
                        {second: {"VCPU": 2}},
                        _consumer_generation(api, server),
                    ),
                },
            },
            version="1.30",
            headers=SERVICE,
        )
    )
    assert _changed(api, cursor) == {ids[first], ids[second]}
    assert cursor.usage_only == {ids[second]}


def test_set_root_provider_ids(api):
    rp = _provider(api, "legacy")
    rp_id = _id(api, rp)
    with api.db.write() as conn:
        conn.execute(
            RP.update().where(RP.c.id == rp_id).values(root_provider_id=None)
        )
    cursor = _cursor(api)
    assert api.db.run_write(
        online_migrations.set_root_provider_ids, api.conf, 10
    ) == (1, 1)
    assert _changed(api, cursor) == {rp_id}
    assert api.db.run_write(
        online_migrations.create_incomplete_consumers, api.conf, 10
    ) == (0, 0)
    assert _changed(api, cursor) == set()


def test_nova_import_records_everything(
    api, make_database_url, tmp_path, capsys
):
    source_url = make_database_url("sqlite")
    nova_api.build(source_url)
    conf = tmp_path / "placement.conf"
    conf.write_text(
        "[api]\nauth_strategy = noauth2\n"
        "[placement_database]\nconnection = %s\n"
        % api.conf.placement_database.connection
    )
    cursor = _cursor(api)
    assert (
        cli.main(
            ["import-nova", "--from", source_url, "--config-file", str(conf)]
        )
        == 0
    )
    capsys.readouterr()
    assert _changed(api, cursor) is changes.EVERYTHING


def test_publish_takes_the_next_number_and_logs_under_it(api):
    """The number ``publish`` takes (on MySQL and MariaDB read back as the
    session's LAST_INSERT_ID, sent with the UPDATE's answer) is the head's
    next, and the one its entries are logged under."""
    with api.db.read() as conn:
        before = changes.head(conn)
    for step in (1, 2):
        with api.db.write() as conn:
            changes.record(conn, [7, 8])
            seq = changes.publish(conn)
        assert seq == before + step
        with api.db.read() as conn:
            assert changes.head(conn) == seq
            logged = conn.execute(
                sa.select(tables.provider_changes.c.provider_id).where(
                    tables.provider_changes.c.seq == seq
                )
            ).scalars()
            assert sorted(logged) == [7, 8]
