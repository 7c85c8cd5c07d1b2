"""Wide provider tree benchmark for GET /allocation_candidates (issue #4).

Builds, over the HTTP API of a running placement server (allotment or the
reference), one root provider with N children holding 1 unit each of a
custom class, then asks for N granular groups of 1 unit with
group_policy=isolate (N! candidates, distinct by their mappings) and times
the query with limit=1000 and without a limit.

    python bench/wide_tree.py --url http://127.0.0.1:8000 [--children 8]
        [--repeat 3] [--pid SERVER_PID] [--timeout 60]

With --pid the server's resident memory (VmRSS, VmHWM) is reported after
the runs. Only the standard library is used.
"""

import argparse
import json
import statistics
import time
import urllib.request
import uuid

RC = "CUSTOM_WIDE_DEV"


class Client:
    def __init__(self, url, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def call(self, method, path, body=None, version="1.39"):
        raw = self.raw(method, path, body, version)
        return json.loads(raw) if raw else None

    def raw(self, method, path, body=None, version="1.39"):
        """The answer's bytes (not decoded, so timings exclude parsing)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("x-auth-token", "admin")
        req.add_header("accept", "application/json")
        req.add_header("openstack-api-version", "placement " + version)
        if data is not None:
            req.add_header("content-type", "application/json")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return resp.read()


def build_tree(client, children):
    client.call("PUT", "/resource_classes/" + RC)
    root = str(uuid.uuid4())
    client.call(
        "POST",
        "/resource_providers",
        {"name": "wide-root-" + root[:8], "uuid": root},
    )
    for n in range(children):
        child = str(uuid.uuid4())
        provider = client.call(
            "POST",
            "/resource_providers",
            {
                "name": "wide-child-%d-%s" % (n, child[:8]),
                "uuid": child,
                "parent_provider_uuid": root,
            },
        )
        client.call(
            "PUT",
            "/resource_providers/%s/inventories" % child,
            {
                "resource_provider_generation": provider["generation"],
                "inventories": {RC: {"total": 1}},
            },
        )
    return root


def query(children, limit=None):
    parts = ["resources%d=%s:1" % (n + 1, RC) for n in range(children)]
    parts.append("group_policy=isolate")
    if limit:
        parts.append("limit=%d" % limit)
    return "/allocation_candidates?" + "&".join(parts)


def timed(client, path, repeat):
    """Wall-clock times from sending the request to the last byte."""
    times, raw = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        raw = client.raw("GET", path)
        times.append(time.perf_counter() - start)
    return times, json.loads(raw)


def rss(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            key, _sep, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = value.strip()
    return fields


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    client = Client(args.url, args.timeout)
    build_tree(client, args.children)
    expected = 1
    for n in range(2, args.children + 1):
        expected *= n
    for label, limit in (("limit=1000", 1000), ("no limit", None)):
        try:
            times, body = timed(
                client, query(args.children, limit), args.repeat
            )
        except OSError as exc:
            print("%-10s failed: %s" % (label, exc))
            continue
        requests = body["allocation_requests"]
        distinct = {
            json.dumps(r["mappings"], sort_keys=True) for r in requests
        }
        want = min(expected, limit or expected)
        print(
            "%-10s %6d candidates (%d distinct mappings, want %d): "
            "median %.3f s, min %.3f s, max %.3f s"
            % (
                label,
                len(requests),
                len(distinct),
                want,
                statistics.median(times),
                min(times),
                max(times),
            )
        )
    if args.pid:
        print("server memory: %s" % rss(args.pid))


if __name__ == "__main__":
    main()
