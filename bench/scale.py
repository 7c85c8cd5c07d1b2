"""Reads at cloud scale, allotment beside the reference, without building
the cloud through the API.

../shared/bench builds its cloud with one API request per provider, trait
list and inventory: at 5,000 or 10,000 nested hosts that takes most of an
hour per server. This script plans the very same cloud with that
benchmark's own code (its ``Topology`` and pre-fill plan, same seed: same
providers, inventories, traits, aggregates, sharing providers and usage),
writes it straight into an SQLite database whose schema the reference
created (``placement-manage db sync``), copies that file for allotment
(``allotment db sync`` adopts it, as an operator switching would), then
serves each database in turn, one worker each, and times the benchmark's
own read queries over HTTP, one at a time: p50 and p95 of ``--repeats``
after ``--warmup`` untimed requests, the count of answers, and for
allocation candidates the candidates delivered per second of response
time.

    .venv/bin/python bench/scale.py -n 5000 --shape nested
    .venv/bin/python bench/scale.py -n 10000 --shape nested --only ours
    .venv/bin/python bench/scale.py -n 10000 --shape flat --kinds rp,other
    .venv/bin/python bench/scale.py -n 1000 --shape flat --db postgresql

``--db postgresql`` or ``mysql``: each server gets its own fresh database
on the shared server (127.0.0.1:5432 as postgres, 127.0.0.1:3306 as root),
the reference's schema, the same rows (allotment's adopted with ``db
sync``), dropped at the end unless ``--keep``.

``$ALLOTMENT_SHARED`` (default ../shared) holds the benchmark and
reference-serve. Markdown on stdout; ``--json FILE`` keeps everything.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import types
import uuid

import sqlalchemy as sa

from allotment.domain import resource_classes
from allotment.storage import tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("ALLOTMENT_SHARED", os.path.join(ROOT, "..", "shared"))
HEADERS = {
    "X-Auth-Token": "admin",
    "OpenStack-API-Version": "placement 1.39",
    "Accept": "application/json",
}


def _bench_module():
    """../shared/bench's placement_bench, for its topology and queries
    (its HTTP client libraries are not needed for those)."""
    for name in ("aiohttp", "yarl"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.path.insert(0, os.path.join(SHARED, "bench"))
    import placement_bench

    return placement_bench


LABELS = ("reference", "ours")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The shared servers' addresses (their users need no password), as this
# virtualenv reaches them (psycopg 3).
SERVERS = {
    "postgresql": ("postgresql+psycopg://postgres@127.0.0.1:5432", ""),
    "mysql": ("mysql+pymysql://root@127.0.0.1:3306", "?charset=utf8mb4"),
}


def _on_server(db, sql):
    """Run ``sql`` outside any transaction on the ``db`` server (its
    administrative database)."""
    base, query = SERVERS[db]
    admin = "postgres" if db == "postgresql" else ""
    engine = sa.create_engine("%s/%s%s" % (base, admin, query))
    with engine.connect() as c:
        c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(sql)
    engine.dispose()


def _database_name(name):
    return "allotment_scale_%s_%d" % (name, os.getpid())


def _database(folder, name, db):
    """The URL of a new, empty database for server ``name``."""
    if db == "sqlite":
        return "sqlite:///%s" % os.path.join(folder, name + ".db")
    database = _database_name(name)
    _on_server(db, "DROP DATABASE IF EXISTS " + database)
    charset = " CHARACTER SET utf8mb4" if db == "mysql" else ""
    _on_server(db, "CREATE DATABASE %s%s" % (database, charset))
    base, query = SERVERS[db]
    return "%s/%s%s" % (base, database, query)


def _config(folder, name, url):
    path = os.path.join(folder, name + ".conf")
    with open(path, "w") as f:
        f.write(
            "[placement_database]\nconnection = %s\n\n"
            "[api]\nauth_strategy = noauth2\n" % url
        )
    return path


def _served_url(url, name):
    """The URL server ``name`` is configured with: the reference's
    SQLAlchemy would pick psycopg 3, which its virtualenv lacks, for
    ``postgresql://``; allotment gets what an operator would write."""
    driver = "postgresql+psycopg2" if name == "reference" else "postgresql"
    return url.replace("postgresql+psycopg", driver, 1)


class Failed(Exception):
    """A query answered something else than 200 (its status first)."""


class Server:
    """A server process on a free port, stopped on exit."""

    def __init__(self, command, log_path):
        self.port = _free_port()
        self.connection = None
        self.log = open(log_path, "ab")  # noqa: SIM115 - the server holds it
        self.process = subprocess.Popen(
            command.format(port=self.port),
            shell=True,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("server exited, see %s" % log_path)
            try:
                self.get("/")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def get(self, path):
        """The body of GET ``path`` (200 only), on a kept-alive connection
        as the benchmark's client does (reconnecting when the server
        closed it)."""
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=900
                )
            try:
                self.connection.request("GET", path, headers=HEADERS)
                response = self.connection.getresponse()
                body = response.read()
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.connection.close()
                self.connection = None
            if response.status != 200:
                raise Failed(response.status, path)
            return body
        raise AssertionError("unreachable")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.killpg(self.process.pid, 15)
        self.process.wait(30)
        self.log.close()


def write_cloud(url, topo, consumers, project):
    """The planned cloud as rows (``tables`` are the reference's)."""
    db = sa.create_engine(url)
    kinds = {
        p.uuid: p for p in topo.providers.values()
    }  # insertion order: parents first
    ids = {uid: i for i, uid in enumerate(kinds, start=1)}
    agg_ids = {u: i for i, u in enumerate(topo.aggregates, start=1)}
    with db.begin() as conn:
        names = sorted(
            {t for p in kinds.values() for t in p.traits}
            | set(topo.custom_traits)
        )
        known = dict(
            conn.execute(
                sa.select(tables.traits.c.name, tables.traits.c.id)
            ).all()
        )
        missing = [n for n in names if n not in known]
        if missing:
            conn.execute(
                tables.traits.insert(), [{"name": n} for n in missing]
            )
            known = dict(
                conn.execute(
                    sa.select(tables.traits.c.name, tables.traits.c.id)
                ).all()
            )
        classes = sorted({rc for p in kinds.values() for rc in p.inventory})
        rc_ids = resource_classes.ids_for(conn, classes)
        conn.execute(
            tables.placement_aggregates.insert(),
            [{"id": i, "uuid": u} for u, i in agg_ids.items()],
        )
        conn.execute(
            tables.resource_providers.insert(),
            [
                {
                    "id": ids[p.uuid],
                    "uuid": p.uuid,
                    "name": p.name,
                    "generation": 1,
                    "root_provider_id": ids[p.root],
                    "parent_provider_id": ids[p.parent] if p.parent else None,
                }
                for p in kinds.values()
            ],
        )
        conn.execute(
            tables.inventories.insert(),
            [
                {
                    "resource_provider_id": ids[p.uuid],
                    "resource_class_id": rc_ids[rc],
                    **fields,
                }
                for p in kinds.values()
                for rc, fields in p.inventory.items()
            ],
        )
        conn.execute(
            tables.resource_provider_traits.insert(),
            [
                {"resource_provider_id": ids[p.uuid], "trait_id": known[t]}
                for p in kinds.values()
                for t in p.traits
            ],
        )
        conn.execute(
            tables.resource_provider_aggregates.insert(),
            [
                {
                    "resource_provider_id": ids[p.uuid],
                    "aggregate_id": agg_ids[a],
                }
                for p in kinds.values()
                for a in p.aggregates
            ],
        )
        project_id = conn.execute(
            tables.projects.insert().values(external_id=project)
        ).inserted_primary_key[0]
        user_id = conn.execute(
            tables.users.insert().values(external_id="bench-user")
        ).inserted_primary_key[0]
        conn.execute(
            tables.consumers.insert(),
            [
                {
                    "uuid": c,
                    "project_id": project_id,
                    "user_id": user_id,
                    "generation": 1,
                }
                for c, _alloc in consumers
            ],
        )
        conn.execute(
            tables.allocations.insert(),
            [
                {
                    "resource_provider_id": ids[rp],
                    "consumer_id": c,
                    "resource_class_id": rc_ids[rc],
                    "used": amount,
                }
                for c, alloc in consumers
                for rp, resources in alloc.items()
                for rc, amount in resources.items()
            ],
        )
        if conn.dialect.name == "postgresql":  # ids were given: catch up
            for table in ("resource_providers", "placement_aggregates"):
                conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                    "(SELECT max(id) FROM %s))" % (table, table)
                )
    with db.begin() as conn:
        # Statistics, as a lived-in database has them (autovacuum, InnoDB's
        # recalculation): without, PostgreSQL plans joins over the new rows
        # as sequential scans, for both servers.
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
        elif conn.dialect.name == "mysql":
            conn.exec_driver_sql(
                "ANALYZE TABLE %s"
                % ", ".join(sa.inspect(conn).get_table_names())
            )
    db.dispose()


def _count(body):
    data = json.loads(body)
    for key in ("allocation_requests", "resource_providers"):
        if key in data:
            return len(data[key])
    return None


def time_queries(server, queries, warmup, repeats, seed):
    results = {}
    for q in queries:
        rng = random.Random(seed)
        paths = [q.make(rng) for _ in range(warmup + repeats)]
        try:
            for path in paths[:warmup]:
                server.get(path)
        except Failed as failed:
            # (the reference answers 500 to some, on some databases)
            results[q.name] = {"status": failed.args[0]}
            continue
        times, counts = [], set()
        for path in paths[warmup:]:
            started = time.perf_counter()
            body = server.get(path)
            times.append(time.perf_counter() - started)
            counts.add(_count(body))
        times.sort()
        count = sorted(c for c in counts if c is not None)
        results[q.name] = {
            "p50_ms": 1000 * times[len(times) // 2],
            "p95_ms": 1000
            * times[min(len(times) - 1, int(len(times) * 0.95))],
            "count": (
                "-"
                if not count
                else str(count[0])
                if len(count) == 1
                else "%d-%d" % (count[0], count[-1])
            ),
            "per_s": (
                count[-1] / times[len(times) // 2]
                if count and q.kind == "ac"
                else None
            ),
        }
    return results


def _cell(result):
    """A server's p50 ms, or the status it answered instead."""
    if not result:
        return "-"
    if "status" in result:
        return str(result["status"])
    return "%.1f" % result["p50_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="compute nodes")
    parser.add_argument(
        "--shape", choices=("flat", "nested"), default="nested"
    )
    parser.add_argument("--only", choices=("ours", "reference"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fill", type=float, default=0.5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--workdir", default="/dev/shm")
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--db", choices=("sqlite", *SERVERS), default="sqlite")
    parser.add_argument(
        "--kinds",
        default="ac,rp,other",
        help="the benchmark's kinds of query to time (ac: allocation "
        "candidates, rp: provider lists, other: the rest)",
    )
    args = parser.parse_args()

    pb = _bench_module()
    topo_args = pb.parse_args(
        [
            *("--url", "http://unused", "-n", str(args.n)),
            *("--shape", args.shape, "--seed", str(args.seed)),
        ]
    )
    started = time.perf_counter()
    topo = pb.Topology(topo_args)
    consumers, _used = topo.plan_prefill(args.fill)
    project = str(uuid.UUID(int=random.Random(args.seed).getrandbits(128)))
    queries = [
        q
        for q in pb.build_queries(topo, consumers, project)
        if args.shape in q.shapes and q.kind in args.kinds.split(",")
    ]
    folder = tempfile.mkdtemp(prefix="allotment-scale-", dir=args.workdir)
    urls = {name: _database(folder, name, args.db) for name in LABELS}
    ref_conf, our_conf = (
        _config(folder, name, _served_url(urls[name], name)) for name in LABELS
    )
    # The reference creates the schema, the cloud goes in as rows, and
    # allotment adopts its copy.
    for name in LABELS if args.db != "sqlite" else ("reference",):
        with Server(
            "%s/reference-serve --config-file %s --port {port}"
            % (
                SHARED,
                _config(
                    folder,
                    name + "-sync",
                    _served_url(urls[name], "reference"),
                ),
            ),
            os.path.join(folder, name + "-sync.log"),
        ):
            pass
        write_cloud(urls[name], topo, consumers, project)
    if args.db == "sqlite":
        shutil.copy(
            os.path.join(folder, "reference.db"),
            os.path.join(folder, "ours.db"),
        )
    subprocess.run(
        [
            os.path.join(ROOT, ".venv/bin/allotment"),
            *("db", "sync", "--config-file", our_conf),
        ],
        check=True,
    )
    built = time.perf_counter() - started
    servers = {
        "ours": "%s/.venv/bin/allotment serve --config-file %s --port {port}"
        % (ROOT, our_conf),
        "reference": "%s/reference-serve --config-file %s --port {port}"
        % (SHARED, ref_conf),
    }
    results = {}
    for label, command in servers.items():
        if args.only and label != args.only:
            continue
        with Server(command, os.path.join(folder, label + ".log")) as server:
            results[label] = time_queries(
                server, queries, args.warmup, args.repeats, args.seed
            )
    report = {
        "n": args.n,
        "shape": args.shape,
        "providers": len(topo.providers),
        "consumers": len(consumers),
        "build_s": built,
        "load": os.getloadavg(),
        "results": results,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print(
        "%d %s compute nodes (%d providers, %d consumers), %s, load %.1f"
        % (
            args.n,
            args.shape,
            len(topo.providers),
            len(consumers),
            args.db,
            os.getloadavg()[0],
        )
    )
    print()
    print(
        "| query | allotment p50 ms | reference p50 ms | reference / "
        "allotment | count (ours / ref) | allotment candidates/s |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for q in queries:
        ours = results.get("ours", {}).get(q.name)
        ref = results.get("reference", {}).get(q.name)
        if any(r and "status" in r for r in (ours, ref)):
            cells = (_cell(r) for r in (ours, ref))
            print("| %s | %s | %s | - | - | - |" % (q.name, *cells))
            continue
        print(
            "| %s | %s | %s | %s | %s | %s |"
            % (
                q.name,
                "%.1f" % ours["p50_ms"] if ours else "-",
                "%.1f" % ref["p50_ms"] if ref else "-",
                "%.1fx" % (ref["p50_ms"] / ours["p50_ms"])
                if ours and ref
                else "-",
                " / ".join(r["count"] for r in (ours, ref) if r),
                "%.0f" % ours["per_s"] if ours and ours["per_s"] else "-",
            )
        )
    if not args.keep:
        shutil.rmtree(folder)
        if args.db != "sqlite":
            for name in LABELS:
                _on_server(
                    args.db, "DROP DATABASE IF EXISTS " + _database_name(name)
                )
    else:
        print("\nkept", folder, *urls.values())


if __name__ == "__main__":
    main()
