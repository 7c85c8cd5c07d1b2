"""Where a benchmark's CPU goes: the server, the database, the client.

    python bench/cpu_share.py [--json F] -- COMMAND [ARGS...]

Runs COMMAND (a benchmark, e.g. ``bench/cloud.sh ... --scenarios
claims``) and, every second while it runs, adds up the CPU time each
process used in that second (utime + stime, from /proc) by kind: the
server under test (``allotment serve``, ``reference-serve``, gunicorn),
the database (postgres, mariadbd, mysqld), the benchmark's client
(``placement_bench``, ``boot_storm``) and any other process. Beside them,
the machine's busy time from /proc/stat, which also holds what no process
is charged for (interrupts, processes that ended within the second).

At the end it prints each window of ten or more consecutive seconds in
which both the server and the client worked (server >= 0.3 of a core,
client >= 0.1), with its averages in cores: a claims run is one such
window, a build of the cloud another. Divide by the run's claims/s for
CPU per claim. With ``--json`` every second is kept too. Linux only;
standard library only.

Why: on a machine of two cores the client and the database share the
cores with the server, so what a second worker can add is bounded by what
one worker leaves idle (bench/RESULTS.md, 2026-12-01 day).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

KINDS = ("server", "database", "client", "other")
_HZ = os.sysconf("SC_CLK_TCK")


def kind_of(cmdline: str) -> str:
    """The kind of a process by its command line (NUL-separated, as in
    /proc). The client first: its command line names the server's."""
    if "placement_bench" in cmdline or "boot_storm" in cmdline:
        return "client"
    words = cmdline.split("\0")
    # (a PostgreSQL backend's title: "postgres: 15/main: user db ...")
    program = os.path.basename(words[0].split(" ")[0])
    if (
        ("allotment" in cmdline and "serve" in words)
        or "reference-serve" in cmdline
        or "gunicorn" in cmdline
    ):
        return "server"
    if program.startswith(("postgres", "mariadbd", "mysqld")):
        return "database"
    return "other"


def sample() -> tuple[dict[int, tuple[str, float]], float]:
    """({pid: (kind, CPU seconds so far)}, the machine's busy seconds)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % name) as f:
                cmdline = f.read()
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / _HZ
        found[int(name)] = (kind_of(cmdline), used)
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / _HZ  # less idle and iowait
    return found, busy


def second(
    before: tuple[dict[int, tuple[str, float]], float],
    after: tuple[dict[int, tuple[str, float]], float],
) -> dict[str, float]:
    """Cores used by each kind between two samples a second apart (a
    process born meanwhile counts from zero)."""
    used = dict.fromkeys(KINDS, 0.0)
    old = before[0]
    for pid, (kind, cpu) in after[0].items():
        used[kind] += cpu - old.get(pid, (kind, 0.0))[1]
    used["busy"] = after[1] - before[1]
    return used


def windows(
    rows: list[dict[str, float]], least: int = 10
) -> list[tuple[int, int, dict[str, float]]]:
    """(first second, last second, average cores) of each run of at least
    ``least`` seconds in which the server and the client both worked."""
    found = []
    start = None
    for i, row in enumerate([*rows, {}]):
        working = row.get("server", 0) >= 0.3 and row.get("client", 0) >= 0.1
        if working and start is None:
            start = i
        elif not working and start is not None:
            if i - start >= least:
                part = rows[start:i]
                average = {
                    k: sum(r[k] for r in part) / len(part)
                    for k in (*KINDS, "busy")
                }
                found.append((start, i - 1, average))
            start = None
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    child = subprocess.Popen(command)
    rows = []
    last = sample()
    while child.poll() is None:
        time.sleep(1)
        now = sample()
        rows.append(second(last, now))
        last = now
    print(
        "\nCPU in cores (of %d) while server and client worked:"
        % (os.cpu_count() or 0)
    )
    print("| seconds | busy | server | database | client | other |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for first, final, average in windows(rows):
        print(
            "| %d-%d | %s |"
            % (
                first,
                final,
                " | ".join(
                    "%.2f" % average[k]
                    for k in ("busy", "server", "database", "client", "other")
                ),
            )
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": command, "seconds": rows}, f, indent=1)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
