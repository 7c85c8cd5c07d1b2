"""What the metrics cost: per request, and per scrape.

- Per request: what a request records (``metrics.request``, a checkout and
  a checkin of a pooled connection), timed in a fresh interpreter without
  and with ``PROMETHEUS_MULTIPROC_DIR`` (files shared by workers, as under
  ``allotment serve``).
- Per scrape: ``GET /allotment/metrics`` answered in-process for a cloud of
  N compute nodes (bench/snapshot_size.py's, written straight into SQLite)
  with and without ``[allotment] export_capacity_metrics``, and the
  answer's size.

    .venv/bin/python bench/metrics_cost.py -n 1000 -n 10000
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

_RECORD = """
import time
from allotment import metrics
n = 200000
started = time.perf_counter()
for i in range(n):
    metrics.DB_IN_USE.inc()
    metrics.DB_IN_USE.dec()
    metrics.request("/resource_providers/{uuid}", "GET", 200, "1.39", 0.002)
print((time.perf_counter() - started) / n * 1e6)
"""


def per_request(multiprocess):
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with tempfile.TemporaryDirectory() as folder:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = folder
        out = subprocess.run(
            [sys.executable, "-c", _RECORD],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    return float(out.stdout)


def per_scrape(n, workdir, repeats):
    import snapshot_size

    from allotment.storage import engine
    from allotment.storage import migrations
    from allotment.storage import standard_rows
    from tests import support

    folder = tempfile.mkdtemp(dir=workdir)
    url = "sqlite:///%s" % os.path.join(folder, "placement.sqlite")
    database = engine.Database(url)
    migrations.upgrade(database)
    database.run_write(standard_rows.sync)
    snapshot_size.build(database, n)
    database.dispose()
    result = {}
    for capacity in (False, True):
        api = support.ApiClient.create(
            url, allotment__export_capacity_metrics=capacity
        )
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            resp = api.get("/allotment/metrics")
            times.append(time.perf_counter() - started)
            assert resp.status_code == 200
        result[capacity] = (min(times), len(resp.content))
        api.close()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n", type=int, action="append", help="compute nodes (repeatable)"
    )
    parser.add_argument("--workdir", default="/dev/shm")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| recording per request | µs |")
    print("| --- | ---: |")
    print("| one process | %.1f |" % per_request(False))
    print("| multiprocess files | %.1f |" % per_request(True))
    print()
    print("| nodes | scrape ms | bytes | with capacity gauges ms | bytes |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.n or [1000, 10000]:
        r = per_scrape(n, args.workdir, args.repeats)
        print(
            "| %d | %.1f | %d | %.1f | %d |"
            % (
                n,
                r[False][0] * 1000,
                r[False][1],
                r[True][0] * 1000,
                r[True][1],
            )
        )


if __name__ == "__main__":
    main()
