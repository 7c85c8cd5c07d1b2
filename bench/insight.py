"""How long explain and capacity take on a large cloud.

Writes N compute nodes straight into a new SQLite database (as
bench/snapshot_size.py does: VCPU 32 at ratio 4.0, 64 GiB, 1000 GB, half
of them with some usage, 3 traits, 1 of 8 aggregates each), loads the
snapshot, then times (best of ``--repeats``) ``candidates.explain.explain``
and ``candidates.fits.count`` for a few queries, in this process (no
HTTP), with ``find.plan`` plus generating every candidate alongside for
scale.

    .venv/bin/python bench/insight.py -n 1000 -n 10000
"""

import argparse
import os
import tempfile
import time
import uuid

import snapshot_size

from allotment.api import candidates_query
from allotment.api import microversion
from allotment.candidates import combine
from allotment.candidates import explain
from allotment.candidates import find
from allotment.candidates import fits
from allotment.storage import engine
from allotment.storage import migrations
from allotment.storage import standard_rows

LATEST = microversion.parse({"openstack-api-version": "placement 1.39"})
AGG = str(uuid.UUID(int=1))
QUERIES = [
    ("flavor", "resources=VCPU:4,MEMORY_MB:8192,DISK_GB:40"),
    ("above max_unit", "resources=VCPU:64,MEMORY_MB:8192"),
    (
        "traits, aggregate",
        "resources=VCPU:2,MEMORY_MB:2048&required=HW_CPU_X86_AVX2"
        "&member_of=%s" % AGG,
    ),
    (
        "two groups, isolate",
        "resources1=VCPU:8&resources2=VCPU:8&group_policy=isolate",
    ),
]


def _params(query):
    params = {}
    for part in query.split("&"):
        key, _sep, value = part.partition("=")
        params.setdefault(key, []).append(value)
    return params


def _best(repeats, work):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def measure(n, workdir, repeats):
    folder = tempfile.mkdtemp(dir=workdir)
    path = os.path.join(folder, "placement.sqlite")
    database = engine.Database("sqlite:///%s" % path)
    migrations.upgrade(database)
    database.run_write(standard_rows.sync)
    snapshot_size.build(database, n)
    _snap, version = snapshot_size.load(database)
    flags = candidates_query.flags(LATEST)
    rows = []
    with database.read() as conn:
        for name, query in QUERIES:
            request = candidates_query.parse(_params(query), LATEST)

            def search(request=request):
                plan = find.plan(conn, version, request, flags)
                if plan is None:
                    return 0
                return sum(1 for _ in combine.generate(plan.problem))

            def explained(request=request):
                return explain.explain(conn, version, request, flags, None)

            def counted(request=request):
                return fits.count(conn, version, request, flags)

            search_s, candidates = _best(repeats, search)
            explain_s, _answer = _best(repeats, explained)
            fits_s, found = _best(repeats, counted)
            rows.append(
                (name, candidates, search_s, explain_s, found.total, fits_s)
            )
    database.dispose()
    os.remove(path)
    return version.live, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n", type=int, action="append", help="compute nodes (repeatable)"
    )
    parser.add_argument("--workdir", default="/dev/shm")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| providers | query | candidates | search s | explain s "
        "| capacity | capacity s |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for n in args.n or [1000, 10000]:
        providers, rows = measure(n, args.workdir, args.repeats)
        for name, candidates, search_s, explain_s, total, fits_s in rows:
            print(
                "| %d | %s | %d | %.3f | %.3f | %d | %.3f |"
                % (
                    providers,
                    name,
                    candidates,
                    search_s,
                    explain_s,
                    total,
                    fits_s,
                )
            )


if __name__ == "__main__":
    main()
