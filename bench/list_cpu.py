"""CPU per request of GET /resource_providers, measured in-process.

Plans the cloud of ../shared/bench (its ``Topology`` and pre-fill, same
seed, as bench/scale.py does), writes it as rows into a new SQLite
database that allotment syncs, then calls the WSGI application in this
process and reports the CPU time (``time.process_time``) per request of
the benchmark's provider-list queries (``rp_*``, rotating parameters as
it does) and of the whole list at a few microversions: median and mean
of ``--repeats`` after ``--warmup``. The load average is printed beside
them: the machine is shared.

    .venv/bin/python bench/list_cpu.py -n 1000 --shape flat
    .venv/bin/python bench/list_cpu.py -n 1000 --shape nested
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid

import falcon.testing
import sqlalchemy as sa

from allotment import config
from allotment.api import app as api_app
from allotment.storage import clock
from allotment.storage import engine
from allotment.storage import tables

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale  # bench/scale.py, beside this file

# Whole lists at other microversions than the benchmark's 1.39: the
# rendered shapes differ (links, tree uuids).
EXTRA = [("rp_list_all@1.0", "/resource_providers", "1.0")]
EXTRA += [("rp_list_all@1.14", "/resource_providers", "1.14")]


def _app(url):
    conf = config.load([], default_config_files=[])
    conf.set_override("auth_strategy", "noauth2", group="api")
    conf.set_override("connection", url, group="placement_database")
    conf.set_override("sync_on_startup", True, group="placement_database")
    return api_app.build(conf, database=engine.Database.from_conf(conf))


def _get(app, path, version):
    path, _sep, query = path.partition("?")
    environ = falcon.testing.create_environ(
        path=path,
        query_string=query,
        headers={
            "x-auth-token": "admin",
            "accept": "application/json",
            "openstack-api-version": "placement " + version,
        },
    )
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = status

    body = b"".join(app(environ, start_response))
    if not answer["status"].startswith("200"):
        raise RuntimeError("%s answered %s" % (path, answer["status"]))
    return body


def _time(app, paths, version, warmup):
    for path in paths[:warmup]:
        _get(app, path, version)
    cpu = []
    for path in paths[warmup:]:
        started = time.process_time()
        _get(app, path, version)
        cpu.append(1000 * (time.process_time() - started))
    return statistics.median(cpu), statistics.mean(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="compute nodes")
    parser.add_argument("--shape", choices=("flat", "nested"), default="flat")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--workdir", default="/dev/shm")
    args = parser.parse_args()

    pb = scale._bench_module()
    topo = pb.Topology(
        pb.parse_args(
            [
                *("--url", "http://unused", "-n", str(args.n)),
                *("--shape", args.shape, "--seed", str(args.seed)),
            ]
        )
    )
    consumers, _used = topo.plan_prefill(0.5)
    project = str(uuid.UUID(int=random.Random(args.seed).getrandbits(128)))
    queries = [
        q
        for q in pb.build_queries(topo, consumers, project)
        if q.name.startswith("rp_") and q.name != "rp_usages"
    ]
    folder = tempfile.mkdtemp(prefix="allotment-list-", dir=args.workdir)
    try:
        url = "sqlite:///%s" % os.path.join(folder, "placement.sqlite")
        _app(url)  # creates the schema
        scale.write_cloud(url, topo, consumers, project)
        db = sa.create_engine(url)
        with db.begin() as conn:  # as the API would have stamped them
            conn.execute(
                tables.resource_providers.update().values(
                    created_at=clock.utcnow(), updated_at=clock.utcnow()
                )
            )
        db.dispose()
        app = _app(url)
        print(
            "%d %s compute nodes (%d providers), %d warm-up + %d timed, "
            "load %.1f"
            % (
                args.n,
                args.shape,
                len(topo.providers),
                args.warmup,
                args.repeats,
                os.getloadavg()[0],
            )
        )
        print()
        print("| query | CPU ms median | CPU ms mean |")
        print("| --- | ---: | ---: |")
        timed = [(q.name, q.make, "1.39") for q in queries] + [
            (name, (lambda _r, p=path: p), v) for name, path, v in EXTRA
        ]
        for name, make, version in timed:
            rng = random.Random(args.seed)
            paths = [make(rng) for _ in range(args.warmup + args.repeats)]
            median, mean = _time(app, paths, version, args.warmup)
            print("| %s | %.2f | %.2f |" % (name, median, mean))
        print()
        print("load after: %.1f" % os.getloadavg()[0])
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
