"""``allotment audit`` and GET /allotment/audit on every backend: each bad
state is planted with SQL, reported by uuid with its fix, and the safe ones
repaired by ``--fix`` in one transaction, keeping the snapshot exact."""

import uuid

import orjson
import pytest
import sqlalchemy as sa

from allotment.cli import main as allotment_cli
from allotment.domain import audit
from allotment.storage import changes
from allotment.storage import engine
from allotment.storage import tables
from tests import support
from tests.functional.test_allocation_candidates import _provider
from tests.functional.test_manage import write_conf

RP = tables.resource_providers
INV = tables.inventories
ALLOC = tables.allocations
CONSUMERS = tables.consumers


def claim(api, consumer, allocations):
    resp = api.put(
        "/allocations/" + consumer,
        {
            "allocations": {
                rp: {"resources": resources}
                for rp, resources in allocations.items()
            },
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": None,
        },
        version="1.28",
    )
    assert resp.status_code == 204, resp.text


def provider_id(conn, rp_uuid):
    return conn.scalar(sa.select(RP.c.id).where(RP.c.uuid == rp_uuid))


def class_id(conn, name):
    return conn.scalar(
        sa.select(tables.resource_classes.c.id).where(
            tables.resource_classes.c.name == name
        )
    )


def insert_provider(conn, name, parent=None):
    rp_uuid = str(uuid.uuid4())
    conn.execute(
        RP.insert().values(
            uuid=rp_uuid, name=name, generation=0, parent_provider_id=parent
        )
    )
    return rp_uuid, provider_id(conn, rp_uuid)


@pytest.fixture
def planted(api):
    """A cloud with one of each problem, planted with SQL; the healthy
    consumer uses a sharing provider in another tree (not a finding)."""
    agg = str(uuid.uuid4())
    cn1 = _provider(
        api,
        "cn1",
        inventory={"VCPU": 8, "MEMORY_MB": 2048},
        aggregates=[agg],
    )
    cn2 = _provider(api, "cn2", inventory={"VCPU": 8}, aggregates=[agg])
    ss = _provider(
        api,
        "ss",
        inventory={"DISK_GB": 500},
        traits=["MISC_SHARES_VIA_AGGREGATE"],
        aggregates=[agg],
    )
    c = {name: str(uuid.uuid4()) for name in ("healthy", "empty", "nomem")}
    c.update(moved=str(uuid.uuid4()), over=str(uuid.uuid4()))
    claim(api, c["healthy"], {cn1: {"VCPU": 1}, ss: {"DISK_GB": 10}})
    claim(api, c["empty"], {cn1: {"VCPU": 1}})
    claim(api, c["nomem"], {cn1: {"MEMORY_MB": 512}})
    claim(api, c["moved"], {cn1: {"VCPU": 2}, cn2: {"VCPU": 2}})
    claim(api, c["over"], {cn2: {"VCPU": 5}})
    ghost = str(uuid.uuid4())
    with api.db.write() as conn:
        conn.execute(ALLOC.delete().where(ALLOC.c.consumer_id == c["empty"]))
        conn.execute(
            INV.delete().where(
                INV.c.resource_provider_id == provider_id(conn, cn1),
                INV.c.resource_class_id == class_id(conn, "MEMORY_MB"),
            )
        )
        conn.execute(
            INV.update()
            .where(INV.c.resource_provider_id == provider_id(conn, cn2))
            .values(total=4, allocation_ratio=1.5, reserved=1)
        )
        # an allocation on a provider that was deleted
        conn.execute(
            ALLOC.insert().values(
                resource_provider_id=999999,
                consumer_id=ghost,
                resource_class_id=class_id(conn, "VCPU"),
                used=3,
            )
        )
        # and beside allocations the API shows
        conn.execute(
            ALLOC.insert().values(
                resource_provider_id=999998,
                consumer_id=c["over"],
                resource_class_id=class_id(conn, "VCPU"),
                used=2,
            )
        )
        lone, _ = insert_provider(conn, "lone")
        top, top_id = insert_provider(conn, "top")
        conn.execute(
            RP.update()
            .where(RP.c.id == top_id)
            .values(root_provider_id=top_id)
        )
        child, child_id = insert_provider(conn, "child", parent=top_id)
        grandchild, _ = insert_provider(conn, "grandchild", parent=child_id)
        loop_a, a_id = insert_provider(conn, "loop-a")
        loop_b, b_id = insert_provider(conn, "loop-b", parent=a_id)
        conn.execute(
            RP.update().where(RP.c.id == a_id).values(parent_provider_id=b_id)
        )
    return {
        "cn1": cn1,
        "cn2": cn2,
        "ss": ss,
        "consumers": c,
        "ghost": ghost,
        "lone": lone,
        "top": top,
        "child": child,
        "grandchild": grandchild,
        "loop": (loop_a, loop_b),
    }


def by_kind(findings):
    result = {}
    for finding in findings:
        subject = finding.get("consumer") or finding.get("provider")
        result.setdefault(finding["kind"], {})[subject] = finding
    return result


def run_audit(database_url, tmp_path, capsys, *args):
    conf = write_conf(tmp_path, database_url)
    code = allotment_cli.main(["audit", "--config-file", conf, *args])
    return code, capsys.readouterr()


def test_api_reports_each_finding_by_uuid(api, planted):
    p, c = planted, planted["consumers"]
    resp = api.get("/allotment/audit")
    assert resp.status_code == 200, resp.text
    found = by_kind(resp.json["findings"])
    assert set(found) == set(audit.KINDS) - {audit.DEAD_CONSUMER}

    assert set(found[audit.EMPTY_CONSUMER]) == {c["empty"]}
    assert found[audit.EMPTY_CONSUMER][c["empty"]]["repairable"]

    missing = found[audit.NO_INVENTORY]
    assert set(missing) == {c["nomem"], p["ghost"], c["over"]}
    assert missing[c["nomem"]]["fix"] == [
        "openstack resource provider allocation unset --provider %s "
        "--resource-class MEMORY_MB %s" % (p["cn1"], c["nomem"])
    ]
    assert "512 MEMORY_MB" in missing[c["nomem"]]["detail"]
    assert "no longer exists" in missing[p["ghost"]]["detail"]
    assert missing[p["ghost"]]["fix"] == [
        "openstack resource provider allocation delete %s" % p["ghost"]
    ]
    assert not missing[c["nomem"]]["repairable"]
    # the nil uuid: re-put what the API shows, dropping the lost rows
    assert missing[c["over"]]["fix"] == [
        "openstack resource provider allocation unset --provider "
        "00000000-0000-0000-0000-000000000000 %s" % c["over"]
    ]
    assert "keeps the others" in missing[c["over"]]["detail"]

    # cn2: 7 VCPU used (2 + 5) over (4 - 1) * 1.5 = 4.5; 6 would hold it
    (over,) = found[audit.OVER_CAPACITY].values()
    assert over["provider"] == p["cn2"]
    assert "7 VCPU" in over["detail"]
    assert over["fix"] == [
        "openstack resource provider inventory class set %s VCPU "
        "--total 6 --reserved 1 --allocation_ratio 1.5 --min_unit 1 "
        "--max_unit 2147483647 --step_size 1" % p["cn2"]
    ]

    roots = found[audit.NO_ROOT]
    assert set(roots) == {p["lone"], p["child"], p["grandchild"], *p["loop"]}
    for rp in (p["lone"], p["child"], p["grandchild"]):
        assert roots[rp]["repairable"]
    assert "%s, its parent's" % p["top"] in roots[p["grandchild"]]["detail"]
    for rp in p["loop"]:
        assert not roots[rp]["repairable"]
        assert "loop" in roots[rp]["detail"]

    (moved,) = found[audit.SEVERAL_TREES].values()
    assert moved["consumer"] == c["moved"]
    assert sorted(moved["fix"]) == sorted(
        "openstack resource provider allocation unset --provider %s %s"
        % (rp, c["moved"])
        for rp in (p["cn1"], p["cn2"])
    )
    # the healthy consumer's disk on the sharing provider is no finding
    everything = orjson.dumps(resp.json).decode()
    assert c["healthy"] not in everything


def test_api_audit_needs_the_rule_and_no_query(sqlite_api):
    assert sqlite_api.get("/allotment/audit").json == {"findings": []}
    resp = sqlite_api.get("/allotment/audit", token="alice:proj")
    assert resp.status_code == 403
    assert "allotment:audit" in resp.json["errors"][0]["detail"]
    resp = sqlite_api.get("/allotment/audit?live_consumers=x")
    assert resp.status_code == 400
    assert resp.json["errors"][0]["status"] == 400


def test_live_consumers(api, planted, database_url, tmp_path, capsys):
    c = planted["consumers"]
    live = tmp_path / "live.txt"
    live.write_text(
        "# consumers nova still knows\n%s\n\n%s  # moved\n"
        % (c["healthy"].upper(), c["moved"])
    )
    code, out = run_audit(
        database_url,
        tmp_path,
        capsys,
        "--live-consumers",
        str(live),
        "--json",
    )
    assert code == 1
    found = by_kind(orjson.loads(out.out)["findings"])
    assert set(found[audit.DEAD_CONSUMER]) == {
        c["nomem"],
        c["over"],
        planted["ghost"],
    }
    assert found[audit.DEAD_CONSUMER][c["over"]]["fix"] == [
        "openstack resource provider allocation delete %s" % c["over"]
    ]


@pytest.mark.parametrize(
    "content, error",
    [
        ("", "lists no consumer uuid"),
        ("# nothing\n", "lists no consumer uuid"),
        ("not-a-uuid\n", "line 1 is not a consumer uuid"),
    ],
)
def test_bad_live_list(sqlite_api, tmp_path, capsys, content, error):
    live = tmp_path / "live.txt"
    live.write_text(content)
    url = str(sqlite_api.db.url)
    code, out = run_audit(url, tmp_path, capsys, "--live-consumers", str(live))
    assert code == 2
    assert error in out.err
    code, out = run_audit(
        url, tmp_path, capsys, "--live-consumers", str(tmp_path / "none")
    )
    assert code == 2
    assert "cannot read" in out.err


def test_fix_repairs_the_safe_cases_only(
    api, planted, database_url, tmp_path, capsys
):
    p, c = planted, planted["consumers"]
    code, out = run_audit(database_url, tmp_path, capsys, "--fix")
    assert code == 1  # the unsafe findings remain
    text = out.out
    assert text.startswith("Fixed in one transaction:\n")
    assert (
        "  deleted consumer %s (it held no allocations)" % c["empty"] in text
    )
    assert "  set the root of provider %s to itself" % p["lone"] in text
    for rp in (p["child"], p["grandchild"]):
        assert "  set the root of provider %s to %s" % (rp, p["top"]) in text
    with api.db.read() as conn:
        assert not conn.scalar(
            sa.select(sa.func.count())
            .select_from(CONSUMERS)
            .where(CONSUMERS.c.uuid == c["empty"])
        )
        roots = dict(
            conn.execute(sa.select(RP.c.uuid, RP.c.root_provider_id)).all()
        )
        ids = dict(conn.execute(sa.select(RP.c.uuid, RP.c.id)).all())
    assert roots[p["lone"]] == ids[p["lone"]]
    assert roots[p["child"]] == roots[p["grandchild"]] == ids[p["top"]]
    assert all(roots[rp] is None for rp in p["loop"])
    found = by_kind(api.get("/allotment/audit").json["findings"])
    assert audit.EMPTY_CONSUMER not in found
    assert set(found[audit.NO_ROOT]) == set(p["loop"])
    assert set(found) == {
        audit.NO_INVENTORY,
        audit.OVER_CAPACITY,
        audit.NO_ROOT,
        audit.SEVERAL_TREES,
    }
    # the report after the fix: each remaining finding with its command
    assert "Audit of " in text and ": 7 findings." in text
    assert "usage_above_capacity (1)" in text
    assert "      fix: openstack resource provider inventory class set" in text
    # a second --fix has nothing left to do
    code, out = run_audit(database_url, tmp_path, capsys, "--fix")
    assert code == 1
    assert out.out.startswith("Nothing to fix safely.\n")


def test_fix_records_the_roots_it_sets_so_the_snapshot_stays_exact(
    api, database_url, tmp_path, capsys
):
    _provider(api, "cn", inventory={"VCPU": 4})
    with api.db.write() as conn:
        _lone, lone_id = insert_provider(conn, "lone")
        # written by hand: every worker reloads (allotment snapshot reload)
        changes.record_everything(conn)
    assert (
        api.get("/allocation_candidates?resources=VCPU:1").status_code == 200
    )
    with api.db.read() as conn:
        before = changes.head(conn)
    code, out = run_audit(database_url, tmp_path, capsys, "--fix")
    assert code == 0, out.out
    assert out.out.endswith(
        "Audit of %s: 0 findings." % engine.redacted_url(api.db.url) + "\n"
    )
    with api.db.read() as conn:
        assert changes.since(conn, before) == (before + 1, {lone_id: False})
    support.assert_snapshot_exact(api.db)


def test_clean_database_exits_0(sqlite_api, tmp_path, capsys):
    code, out = run_audit(str(sqlite_api.db.url), tmp_path, capsys)
    assert code == 0
    assert ": 0 findings." in out.out


@pytest.mark.parametrize(
    "url, error",
    [
        ("postgresql://postgres@127.0.0.1:1/none", "Connection refused"),
        ("sqlite:///{tmp}/empty.sqlite", "no such table"),
    ],
)
def test_a_database_it_cannot_read_exits_2(tmp_path, capsys, url, error):
    code, out = run_audit(url.format(tmp=tmp_path), tmp_path, capsys)
    assert code == 2
    assert out.out == ""
    assert out.err.startswith("ERROR: ")
    assert error in out.err


def test_the_command_and_the_api_report_the_same(
    api, planted, database_url, tmp_path, capsys
):
    code, out = run_audit(database_url, tmp_path, capsys, "--json")
    assert code == 1
    assert orjson.loads(out.out) == api.get("/allotment/audit").json


def test_trees_are_named_by_root_and_the_providers_within(sqlite_api):
    api = sqlite_api
    a = _provider(api, "host-a", inventory={"VCPU": 4})
    gpu = _provider(api, "gpu-a", parent=a, inventory={"VGPU": 2})
    b = _provider(api, "host-b", inventory={"VCPU": 4})
    consumer = str(uuid.uuid4())
    claim(api, consumer, {a: {"VCPU": 1}, gpu: {"VGPU": 1}, b: {"VCPU": 1}})
    (finding,) = api.get("/allotment/audit").json["findings"]
    assert finding["kind"] == audit.SEVERAL_TREES
    # trees in root uuid order, the providers of each in uuid order
    within = ", ".join(n for _u, n in sorted([(a, "host-a"), (gpu, "gpu-a")]))
    trees = sorted(["%s (host-a) through %s" % (a, within), "%s (host-b)" % b])
    assert "rooted at %s and %s;" % tuple(trees) in finding["detail"]
    assert sorted(finding["fix"]) == sorted(
        [
            "openstack resource provider allocation unset --provider %s %s"
            % (b, consumer),
            "openstack resource provider allocation unset %s%s"
            % (
                "".join("--provider %s " % p for p in sorted([a, gpu])),
                consumer,
            ),
        ]
    )


@pytest.mark.parametrize("ratio", [0.0, 1e-30])
def test_usage_over_a_ratio_no_total_can_hold(api, ratio):
    """An inventory whose allocation ratio (0, or so small that
    no total within the API's bounds holds its usage: MySQL's FLOAT keeps
    1e-30 and stores 1e-50 as 0) is reported with a fix that sets the ratio
    to 1: not a 500 from dividing by 0, nor a total larger than the API
    takes (3e300 for 1e-300)."""
    rp = _provider(api, "cn", inventory={"VCPU": 8})
    claim(api, str(uuid.uuid4()), {rp: {"VCPU": 3}})
    generation = api.get("/resource_providers/" + rp).json["generation"]
    resp = api.put(
        "/resource_providers/%s/inventories/VCPU" % rp,
        {
            "resource_provider_generation": generation,
            "total": 8,
            "reserved": 1,
            "allocation_ratio": ratio,
        },
    )
    assert resp.status_code == 200, resp.text
    resp = api.get("/allotment/audit")
    assert resp.status_code == 200, resp.text
    (over,) = [
        f for f in resp.json["findings"] if f["kind"] == audit.OVER_CAPACITY
    ]
    assert over["fix"] == [
        "openstack resource provider inventory class set %s VCPU "
        "--total 4 --reserved 1 --allocation_ratio 1.0 --min_unit 1 "
        "--max_unit 2147483647 --step_size 1" % rp
    ]


def test_a_fix_keeps_the_ratio_where_a_total_holds_the_usage():
    assert audit.inventory_for(7, 1, 1.5) == (6, 1.5)
    assert audit.inventory_for(3, 0, 0.1) == (30, 0.1)
    assert audit.inventory_for(3, 0, 0.0) == (3, 1.0)
    assert audit.inventory_for(3, 0, -2.0) == (3, 1.0)
    assert audit.inventory_for(3, 0, 1e-300) == (3, 1.0)
