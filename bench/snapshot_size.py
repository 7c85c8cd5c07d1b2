"""How big the provider snapshot is, and how long a full load takes.

Writes N root providers straight into a new SQLite database (3
inventories, some usage, 3 traits and 1 aggregate each, like the compute
nodes of ../shared/bench), then, in this process:

- times a full load of the snapshot (best of ``--repeats``);
- measures the memory the loaded snapshot holds (tracemalloc, a separate
  load), then again once every provider's summary has been rendered and
  cached, as candidates requests leave them, and once every provider's
  entry of the provider list (at 1.39) has been too, as a whole list at
  that microversion leaves them.

    .venv/bin/python bench/snapshot_size.py -n 50000 -n 100000
"""

import argparse
import gc
import os
import random
import tempfile
import time
import tracemalloc
import types
import uuid

import sqlalchemy as sa

from allotment.api import candidates_query
from allotment.api import microversion
from allotment.api.resources import providers as provider_api
from allotment.candidates import render
from allotment.candidates import snapshot
from allotment.storage import engine
from allotment.storage import migrations
from allotment.storage import standard_rows
from allotment.storage import tables

TRAITS = [
    "HW_CPU_X86_AVX",
    "HW_CPU_X86_AVX2",
    "HW_CPU_X86_AVX512F",
    "HW_CPU_X86_SSE42",
    "HW_CPU_X86_AESNI",
    "COMPUTE_STATUS_DISABLED",
]
NEWEST = microversion.parse({"openstack-api-version": "placement 1.39"})
LATEST = candidates_query.flags(NEWEST)
# What the provider list's renderer reads of a request.
REQUEST = types.SimpleNamespace(
    context=types.SimpleNamespace(microversion=NEWEST), root_path=""
)


def build(database, n, seed=1):
    """N compute nodes, as rows."""
    rng = random.Random(seed)
    now = None
    with database.write() as conn:
        trait_ids = dict(
            conn.execute(
                sa.select(tables.traits.c.name, tables.traits.c.id).where(
                    tables.traits.c.name.in_(TRAITS)
                )
            ).all()
        )
        conn.execute(
            tables.placement_aggregates.insert(),
            [{"id": a, "uuid": str(uuid.UUID(int=a))} for a in range(1, 9)],
        )
        for start in range(1, n + 1, 5000):
            ids = range(start, min(n, start + 4999) + 1)
            conn.execute(
                tables.resource_providers.insert(),
                [
                    {
                        "id": i,
                        "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                        "name": "cn%d" % i,
                        "generation": 1,
                        "root_provider_id": i,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                tables.inventories.insert(),
                [
                    {
                        "resource_provider_id": i,
                        "resource_class_id": rc,
                        "total": total,
                        "reserved": reserved,
                        "min_unit": 1,
                        "max_unit": total,
                        "step_size": 1,
                        "allocation_ratio": ratio,
                    }
                    for i in ids
                    for rc, total, reserved, ratio in (
                        (0, 32, 0, 4.0),
                        (1, 65536, 512, 1.0),
                        (2, 1000, 10, 1.0),
                    )
                ],
            )
            conn.execute(
                tables.allocations.insert(),
                [
                    {
                        "resource_provider_id": i,
                        "consumer_id": str(uuid.UUID(int=i)),
                        "resource_class_id": rc,
                        "used": used,
                    }
                    for i in ids
                    if i % 2
                    for rc, used in ((0, 4), (1, 8192), (2, 40))
                ],
            )
            conn.execute(
                tables.resource_provider_traits.insert(),
                [
                    {"resource_provider_id": i, "trait_id": trait_ids[t]}
                    for i in ids
                    for t in rng.sample(TRAITS[:5], 3)
                ],
            )
            conn.execute(
                tables.resource_provider_aggregates.insert(),
                [
                    {"resource_provider_id": i, "aggregate_id": i % 8 + 1}
                    for i in ids
                ],
            )


def load(database):
    snap = snapshot.Snapshot(database)
    return snap, snap.version()


def measure(n, workdir, repeats):
    folder = tempfile.mkdtemp(dir=workdir)
    path = os.path.join(folder, "placement.sqlite")
    database = engine.Database("sqlite:///%s" % path)
    migrations.upgrade(database)
    database.run_write(standard_rows.sync)
    build(database, n)
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        _snap, version = load(database)
        times.append(time.perf_counter() - started)
        del _snap, version
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    _snap, version = load(database)
    held = tracemalloc.get_traced_memory()[0] - base
    render._summaries(None, version.rows(), LATEST, version)
    with_summaries = tracemalloc.get_traced_memory()[0] - base
    provider_api.Renderer(REQUEST).held(version, version.rows())
    gc.collect()  # the list's body is gone, its entries are cached
    with_entries = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    providers = version.live
    database.dispose()
    os.remove(path)
    os.rmdir(folder)
    return {
        "providers": providers,
        "load_s": min(times),
        "bytes_per_provider": held / providers,
        "with_summaries": with_summaries / providers,
        "with_entries": with_entries / providers,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n",
        type=int,
        action="append",
        help="providers (repeatable; default 50000 and 100000)",
    )
    parser.add_argument("--workdir", default="/dev/shm")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| providers | full load s | bytes / provider | with summaries "
        "| and list entries |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.n or [50000, 100000]:
        r = measure(n, args.workdir, args.repeats)
        print(
            "| %d | %.2f | %.0f | %.0f | %.0f |"
            % (
                r["providers"],
                r["load_s"],
                r["bytes_per_provider"],
                r["with_summaries"],
                r["with_entries"],
            )
        )


if __name__ == "__main__":
    main()
