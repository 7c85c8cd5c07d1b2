"""Prometheus metrics: every metric allotment exports, and how to read them.

Each layer records its own facts here (this module imports nothing of
allotment): the API its requests, answers and candidate counts, the
storage its write retries and pooled connections, the candidates engine
its snapshot (``snapshot``, fed from ``Snapshot.counters()``).
``GET /allotment/metrics`` (api/resources/metrics.py) serves ``exposition``.

Under several worker processes (gunicorn) the values are kept in files of
``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode), which
``allotment serve`` and deploy/gunicorn.conf.py set up before the workers
start (``allotment.serving``): a scrape answered by any worker adds up the
counters and histograms of all of them, living or dead. Gauges of a worker
disappear with it. The variable must be set before this module is first
imported, which it is when the server sets it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator

import prometheus_client
from prometheus_client import multiprocess
from prometheus_client import registry as prom_registry

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

# No *_created series (unused by dashboards; absent in multiprocess mode).
prometheus_client.disable_created_metrics()

REQUESTS = prometheus_client.Counter(
    "allotment_http_requests",
    "API requests answered, by route template, method, status and "
    "microversion.",
    ["route", "method", "status", "microversion"],
)
LATENCY = prometheus_client.Histogram(
    "allotment_http_request_duration_seconds",
    "Time from a request's arrival to its answer's start (a streamed "
    "body's sending excluded), by route template and method.",
    ["route", "method"],
    buckets=(
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
        10.0,
    ),
)
CANDIDATES = prometheus_client.Histogram(
    "allotment_allocation_candidates_returned",
    "Allocation candidates in each answer of GET /allocation_candidates.",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
TRUNCATED = prometheus_client.Counter(
    "allotment_allocation_candidates_truncated",
    "Answers of GET /allocation_candidates that stopped at their limit "
    "(limit= or [placement] max_allocation_candidates).",
)
CONFLICTS = prometheus_client.Counter(
    "allotment_conflicts",
    "409 answers, by error code.",
    ["code"],
)
RETRIES = prometheus_client.Counter(
    "allotment_write_retries",
    "Writes run again internally: 'deadlock' (deadlock, serialization or "
    "Galera certification failure), 'generation' (a lost provider "
    "generation race), 'insert' (a concurrent insert of the same row).",
    ["reason"],
)
DB_IN_USE = prometheus_client.Gauge(
    "allotment_db_connections_in_use",
    "Database connections checked out of the pools (all workers).",
    multiprocess_mode="livesum",
)
DB_CAPACITY = prometheus_client.Gauge(
    "allotment_db_pool_capacity",
    "Connections the pools may open: pool size plus overflow (all workers).",
    multiprocess_mode="livesum",
)
SNAPSHOT_LOADED = prometheus_client.Gauge(
    "allotment_snapshot_loaded",
    "1 when the worker's provider snapshot is loaded (per worker).",
    multiprocess_mode="liveall",
)
SNAPSHOT_PROVIDERS = prometheus_client.Gauge(
    "allotment_snapshot_providers",
    "Providers held by the worker's snapshot (per worker).",
    multiprocess_mode="liveall",
)
SNAPSHOT_CHANGE = prometheus_client.Gauge(
    "allotment_snapshot_change_number",
    "Change number of the worker's snapshot version (per worker).",
    multiprocess_mode="liveall",
)
SNAPSHOT_BUILT = prometheus_client.Gauge(
    "allotment_snapshot_version_timestamp_seconds",
    "Unix time the worker's current snapshot version was built (its age "
    "is time() minus this; per worker).",
    multiprocess_mode="liveall",
)
SNAPSHOT_LOADS = prometheus_client.Counter(
    "allotment_snapshot_loads",
    "Snapshot loads: 'full' (everything) or 'partial' (changed providers).",
    ["kind"],
)
SNAPSHOT_FAILURES = prometheus_client.Counter(
    "allotment_snapshot_refresh_failures",
    "Snapshot refreshes that failed (the next one loads everything).",
)
SNAPSHOT_DRIFT = prometheus_client.Counter(
    "allotment_snapshot_drift_repairs",
    "Reloads after the snapshot's fingerprint differed from the database.",
)

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))


def request(
    route: str | None,
    method: str,
    status: int,
    microversion: object,
    seconds: float,
) -> None:
    """One answered request (``route``: the matched template, or None)."""
    route = route or "unmatched"
    method = method if method in _METHODS else "other"
    REQUESTS.labels(
        route, method, str(status), str(microversion or "none")
    ).inc()
    LATENCY.labels(route, method).observe(seconds)


def candidates(choices: Iterable[object], limit: int | None) -> Iterator:
    """``choices``, counting what is taken of them: the count when the
    answer ends (or is abandoned), and a truncation when ``limit`` was
    reached."""
    count = 0
    try:
        for choice in choices:
            count += 1
            yield choice
    finally:
        CANDIDATES.observe(count)
        if limit is not None and count >= limit:
            TRUNCATED.inc()


def snapshot(
    figures: dict[str, object], previous: dict[str, object]
) -> dict[str, object]:
    """Export a snapshot's ``counters()``; ``previous`` are the figures it
    exported last (counters grow by the difference). Returns ``figures``."""
    age = figures["age_seconds"]
    SNAPSHOT_LOADED.set(1 if figures["loaded"] else 0)
    SNAPSHOT_PROVIDERS.set(_number(figures["providers"]))
    if figures["seq"] is not None:
        SNAPSHOT_CHANGE.set(_number(figures["seq"]))
    if age is not None:
        SNAPSHOT_BUILT.set(time.time() - _number(age))
    for name, counter in (
        ("full_loads", SNAPSHOT_LOADS.labels("full")),
        ("partial_loads", SNAPSHOT_LOADS.labels("partial")),
        ("failures", SNAPSHOT_FAILURES),
        ("drift_repairs", SNAPSHOT_DRIFT),
    ):
        grown = _number(figures[name]) - _number(previous.get(name, 0))
        if grown > 0:
            counter.inc(grown)
    return figures


def _number(value: object) -> float:
    assert isinstance(value, (int, float)), value
    return value


# As prometheus-client decided when it was imported, before any metric.
_MULTIPROCESS = bool(os.environ.get(MULTIPROC_DIR))


def exposition(
    extra: Iterable[Callable[[], Iterable[object]]] = (),
) -> bytes:
    """The text exposition of every metric (of every worker, in
    multiprocess mode), plus the metric families ``extra`` collectors
    yield (computed by the worker answering)."""
    if _MULTIPROCESS:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.CollectorRegistry(auto_describe=False)
        registry.register(_Default())
    for collect in extra:
        registry.register(_Extra(collect))
    return prometheus_client.generate_latest(registry)


class _Default(prom_registry.Collector):
    """The process's own metrics (single-process mode)."""

    def collect(self):
        return prometheus_client.REGISTRY.collect()


class _Extra(prom_registry.Collector):
    def __init__(self, collect):
        self._collect = collect

    def collect(self):
        return self._collect()
