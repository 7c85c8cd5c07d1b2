"""Print a markdown table comparing two placement-bench JSON results, or
two boot storms (bench/boot_storm.py).

python bench/compare.py OURS.json REFERENCE.json
python bench/compare.py --storm OURS.storm.json REFERENCE.storm.json
"""

import json
import sys


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _reads(result):
    return {
        q["name"]: q
        for q in (result or {}).get("read", [])
        if not q.get("skipped")
    }


def _count(query):
    if query.get("count") is not None:
        return query["count"]
    if "count_max" in query:
        return "%s-%s" % (query["count_min"], query["count_max"])
    return None


def _fmt(value):
    return (
        "-"
        if value is None
        else ("%.1f" % value if isinstance(value, float) else str(value))
    )


def _ratio(ours, theirs):
    return "%.1fx" % (theirs / ours) if ours and theirs else "-"


def main(ours_path, ref_path):
    ours, ref = _load(ours_path), _load(ref_path)
    base = ours or ref
    topo = base["topology"]
    print(
        "N=%s %s, %s providers, fill %s"
        % (
            topo["compute_nodes"],
            topo["shape"],
            topo["providers_total"],
            ", ".join(
                "%s %.0f%%" % (k, v * 100) for k, v in topo["fill"].items()
            ),
        )
    )
    for label, result in (("allotment", ours), ("reference", ref)):
        if result:
            print(
                "%s: %s, %s, load average %s -> %s"
                % (
                    label,
                    result["started_at"],
                    result["server"]["db_backend"],
                    result["host"]["loadavg_start"][0],
                    result["host"]["loadavg_end"][0],
                )
            )
    print()
    print(
        "| query | allotment p50 ms | reference p50 ms | ratio | "
        "server CPU ms (ours / ref) | CPU ratio | count (ours / ref) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    mine, theirs = _reads(ours), _reads(ref)
    for name in dict.fromkeys(list(mine) + list(theirs)):
        a, b = mine.get(name, {}), theirs.get(name, {})
        print(
            "| %s | %s | %s | %s | %s / %s | %s | %s / %s |"
            % (
                name,
                _fmt(a.get("p50_ms")),
                _fmt(b.get("p50_ms")),
                _ratio(a.get("p50_ms"), b.get("p50_ms")),
                _fmt(a.get("server_cpu_ms")),
                _fmt(b.get("server_cpu_ms")),
                _ratio(a.get("server_cpu_ms"), b.get("server_cpu_ms")),
                _fmt(_count(a)),
                _fmt(_count(b)),
            )
        )
    print()
    print("| claims | workers | ok | 409 | errors | claims/s | violations |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, result in (("allotment", ours), ("reference", ref)):
        for c in (result or {}).get("claims", []):
            print(
                "| %s | %s | %s | %s | %s | %s | %s |"
                % (
                    label,
                    c.get("server_workers"),
                    c["successes"],
                    c["conflicts"],
                    c["errors"],
                    _fmt(c["claims_per_s"]),
                    c.get("verify", {}).get("violations"),
                )
            )


def storm(ours_path, ref_path):
    print(
        "| server | idle p50 ms | storm p50 ms | storm / idle | "
        "idle after p50 ms | storm / idle after | claims/s | "
        "claims | 409 | errors |"
    )
    print("| --- |" + " ---: |" * 9)
    for label, path in (("allotment", ours_path), ("reference", ref_path)):
        s = _load(path)
        if s:
            print(
                "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
                % (
                    label,
                    s["idle_p50_ms"],
                    s["storm_p50_ms"],
                    s["storm_over_idle"],
                    s.get("idle_after_p50_ms", "-"),
                    s.get("storm_over_idle_after", "-"),
                    s["claims_per_s"],
                    s["claims"],
                    s["conflicts"],
                    s["errors"],
                )
            )


if __name__ == "__main__":
    if sys.argv[1] == "--storm":
        storm(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1], sys.argv[2])
