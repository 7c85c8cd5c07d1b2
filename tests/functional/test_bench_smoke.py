"""The benchmark scripts of bench/ keep working: a small run (100 compute
nodes, SQLite) of bench/cloud.sh (reads and claims through
../shared/bench/run) and bench/storm.sh (the boot storm), allotment only.
Nothing is timed: the checks are that the runs complete, answer every
query, claim without errors or violations, and write their reports.

Needs ../shared/bench (``ALLOTMENT_SHARED``); skipped without it unless
CI or ALLOTMENT_REQUIRE_BACKENDS=1 is set.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(
    os.environ.get("ALLOTMENT_SHARED", ROOT.parent / "shared")
)


@pytest.fixture
def bench_env(tmp_path):
    if not (SHARED / "bench" / "run").exists():
        message = "no benchmark at %s" % (SHARED / "bench" / "run")
        if (
            os.environ.get("CI")
            or os.environ.get("ALLOTMENT_REQUIRE_BACKENDS") == "1"
        ):
            pytest.fail(message)
        pytest.skip(message)
    return dict(
        os.environ,
        ALLOTMENT_SHARED=str(SHARED),
        BENCH_OUT=str(tmp_path),
        BENCH_WORKDIR=str(tmp_path),
    )


def _run(env, *args):
    done = subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_cloud_reads_and_claims(bench_env, tmp_path):
    # Under bench/cpu_share.py, which adds up the CPU of each kind of
    # process while the run lasts.
    shares = tmp_path / "cpu.json"
    started = time.monotonic()
    out = _run(
        bench_env,
        sys.executable,
        "bench/cpu_share.py",
        "--json",
        str(shares),
        "--",
        "bench/cloud.sh",
        "-n",
        "100",
        "--only",
        "ours",
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--claims",
        "20",
    )
    assert "| rp_list_all |" in out
    result = json.loads((tmp_path / "flat-100-allotment.json").read_text())
    reads = {q["name"]: q for q in result["read"]}
    assert reads["rp_list_all"]["count"] == 102
    assert all(q["statuses"] == {"200": q["n"]} for q in reads.values())
    (claims,) = result["claims"]
    assert claims["successes"] == 20
    assert claims["errors"] == 0
    assert result["violations_total"] == 0
    assert "| seconds | busy | server | database | client | other |" in out
    seconds = json.loads(shares.read_text())["seconds"]
    # A sample for every second the run lasted, however fast the machine
    # (a fixed count failed where the whole run took four seconds).
    lasted = time.monotonic() - started
    assert len(seconds) >= max(1, int(lasted) - 1)
    for kind in ("server", "client", "busy"):
        assert sum(s[kind] for s in seconds) > 0, kind


def _cpu_share():
    spec = importlib.util.spec_from_file_location(
        "cpu_share", ROOT / "bench" / "cpu_share.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_share_kinds_and_windows():
    cpu_share = _cpu_share()
    kind = cpu_share.kind_of
    # The client's command line names the server's command.
    assert (
        kind("python\0placement_bench.py\0--server-cmd\0allotment serve")
        == "client"
    )
    assert (
        kind("/v/bin/python3\0/v/bin/allotment\0serve\0--port\0p") == "server"
    )
    assert (
        kind("/c/venv/bin/gunicorn\0placement.wsgi.api:application")
        == "server"
    )
    assert (
        kind("postgres: 15/main: postgres db 127.0.0.1(5) idle") == "database"
    )
    assert kind("/usr/lib/postgresql/15/bin/postgres\0-D\0/d") == "database"
    assert kind("/usr/sbin/mariadbd\0--port=3306") == "database"
    assert kind("/usr/bin/allotment\0db\0sync") == "other"
    work = {"server": 0.6, "client": 0.2, "database": 0.2, "other": 0.0}
    rows = [dict(work, busy=1.0)] * 12 + [dict(work, server=0.1, busy=0.2)]
    rows += [dict(work, busy=1.5)] * 9  # too short to count
    ((first, last, average),) = cpu_share.windows(rows)
    assert (first, last) == (0, 11)
    assert average["server"] == pytest.approx(0.6)
    assert average["busy"] == pytest.approx(1.0)


def test_boot_storm(bench_env, tmp_path):
    _run(
        bench_env,
        "bench/storm.sh",
        "-n",
        "100",
        "--only",
        "ours",
        "--seconds",
        "3",
        "--repeats",
        "2",
        "--warmup",
        "1",
    )
    storm = json.loads(
        (tmp_path / "storm-flat-100-allotment.storm.json").read_text()
    )
    assert storm["claims"] > 0
    assert storm["errors"] == 0
    assert storm["idle_samples"] == 20 and storm["storm_samples"] > 0
    assert storm["idle_after_p50_ms"] > 0 and storm["storm_over_idle_after"]


@pytest.mark.parametrize("db", ["sqlite", "postgresql", "mysql"])
def test_scale_reads_beside_the_reference(bench_env, tmp_path, db):
    """bench/scale.py writes one cloud as rows for both servers (on the
    shared database servers: a fresh database each, dropped after) and
    both answer every read query with the same counts. (Flat: on nested
    clouds the reference drops sharing candidates, docs/upgrade.md.)"""
    report = tmp_path / "scale.json"
    out = _run(
        bench_env,
        str(ROOT / ".venv" / "bin" / "python"),
        "bench/scale.py",
        *("-n", "20", "--shape", "flat", "--db", db),
        *("--repeats", "1", "--warmup", "1", "--json", str(report)),
        "--workdir",
        str(tmp_path),
    )
    assert "| rp_list_all |" in out
    results = json.loads(report.read_text())["results"]
    ours, reference = results["ours"], results["reference"]
    assert all("p50_ms" in r for r in ours.values()), ours
    same = [
        name
        for name, r in reference.items()
        if "count" in r and r["count"] == ours[name]["count"]
    ]
    # The reference answers 500 to GET /usages?project_id on PostgreSQL.
    assert set(same) | {"usages_project"} >= set(ours), results
    assert ours["rp_list_all"]["count"] == "22"
