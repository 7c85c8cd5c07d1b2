"""Boot storm: allocation candidates timed while clients claim.

python bench/boot_storm.py --url URL [--clients 8] [--seconds 60] [--json F]

Against a server holding a cloud built by ../shared/bench/run (flat shape:
VCPU, MEMORY_MB and DISK_GB on each compute node), times the usual
scheduler query (``resources=VCPU:1,MEMORY_MB:1024,DISK_GB:10&limit=1000``)
one request at a time, first on an idle server, then while ``--clients``
threads claim as fast as they can, the way a scheduler does in a boot storm
(GET candidates ``limit=10``, PUT /allocations of a random one for a new
consumer), then idle again before the claims are deleted (how far the
machine's speed moved during the run: the ratio divides by the idle
figure). Reports the p50s, the storm's over each idle one, claims/s, 409s
and errors, and deletes the claims at the end. Standard library only: it
runs under any Python 3.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import uuid

HEADERS = {
    "x-auth-token": "admin",
    "openstack-api-version": "placement 1.39",
    "accept": "application/json",
}
TIMED = (
    "/allocation_candidates?resources=VCPU:1,MEMORY_MB:1024,DISK_GB:10"
    "&limit=1000"
)
CLAIM = (
    "/allocation_candidates?resources=VCPU:2,MEMORY_MB:4096,DISK_GB:20"
    "&limit=10"
)
PROJECT = "b0075707-0000-4000-8000-000000000001"
USER = "b0075707-0000-4000-8000-000000000002"


class Client:
    """One keep-alive connection (reopened when the server closes it)."""

    def __init__(self, url, timeout):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = dict(HEADERS)
        if data is not None:
            headers["content-type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            try:
                self.conn.request(method, path, data, headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if resp.getheader("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return resp.status, payload
        raise AssertionError("unreachable")


def time_candidates(client, stop, samples, limit=None):
    """Time TIMED until ``stop`` is set or ``limit`` samples exist."""
    while not stop.is_set() and (limit is None or len(samples) < limit):
        start = time.perf_counter()
        status, _body = client.request("GET", TIMED)
        if status != 200:
            raise RuntimeError("candidates answered %s" % status)
        samples.append(time.perf_counter() - start)


def claimer(client, stop, stats, lock, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            status, body = client.request("GET", CLAIM)
            if status != 200:
                raise RuntimeError("candidates %s" % status)
            requests = json.loads(body)["allocation_requests"]
            if not requests:
                with lock:
                    stats["exhausted"] += 1
                stop.set()
                return
            chosen = rng.choice(requests)
            consumer = str(uuid.uuid4())
            body = {
                "allocations": chosen["allocations"],
                "project_id": PROJECT,
                "user_id": USER,
                "consumer_generation": None,
                "consumer_type": "INSTANCE",
            }
            if "mappings" in chosen:
                body["mappings"] = chosen["mappings"]
            status, _ = client.request("PUT", "/allocations/" + consumer, body)
        except Exception as exc:  # counted and shown; the storm goes on
            with lock:
                _error(stats, repr(exc))
            continue
        with lock:
            if status == 204:
                stats["claims"].append(consumer)
            elif status == 409:
                stats["conflicts"] += 1
            else:
                _error(stats, "PUT %s" % status)


def _error(stats, text):
    stats["errors"] += 1
    if len(stats["error_examples"]) < 3:
        stats["error_examples"].append(text)


def _p(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(url, clients, seconds, idle_repeats, timeout):
    timer = Client(url, timeout)
    time_candidates(timer, threading.Event(), [], limit=2)  # warm up
    idle = []
    time_candidates(timer, threading.Event(), idle, limit=idle_repeats)

    stop = threading.Event()
    lock = threading.Lock()
    stats = {
        "claims": [],
        "conflicts": 0,
        "errors": 0,
        "exhausted": 0,
        "error_examples": [],
    }
    threads = [
        threading.Thread(
            target=claimer,
            args=(Client(url, timeout), stop, stats, lock, n),
            daemon=True,
        )
        for n in range(clients)
    ]
    loaded = []
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    stopper = threading.Timer(seconds, stop.set)
    stopper.start()
    try:
        time_candidates(timer, stop, loaded)
    finally:
        stop.set()
        stopper.cancel()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - started
    # Idle again, before the claims are deleted: how far the machine's
    # speed moved during the run (the ratio divides by the idle figure).
    idle_after = []
    time_candidates(timer, threading.Event(), idle_after, limit=idle_repeats)

    cleanup = Client(url, timeout)
    for consumer in stats["claims"]:
        cleanup.request("DELETE", "/allocations/" + consumer)
    result = {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "idle_p50_ms": round(_p(idle, 0.5), 1),
        "idle_samples": len(idle),
        "idle_after_p50_ms": round(_p(idle_after, 0.5), 1),
        "storm_p50_ms": round(_p(loaded, 0.5), 1),
        "storm_p95_ms": round(_p(loaded, 0.95), 1),
        "storm_samples": len(loaded),
        "claims": len(stats["claims"]),
        "claims_per_s": round(len(stats["claims"]) / elapsed, 2),
        "conflicts": stats["conflicts"],
        "errors": stats["errors"],
        "error_examples": stats["error_examples"],
        "capacity_exhausted": bool(stats["exhausted"]),
    }
    result["storm_over_idle"] = round(
        result["storm_p50_ms"] / result["idle_p50_ms"], 2
    )
    result["storm_over_idle_after"] = round(
        result["storm_p50_ms"] / result["idle_after_p50_ms"], 2
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--idle-repeats", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--label", default="")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    result = run(
        args.url.rstrip("/"),
        args.clients,
        args.seconds,
        args.idle_repeats,
        args.timeout,
    )
    result["label"] = args.label
    print(json.dumps(result, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
