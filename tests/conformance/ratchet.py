"""The conformance ratchet: run the reference's gabbi files against us.

``python -m tests.conformance.ratchet`` runs the listed files;
``--update`` runs every file and adds the ones that now pass fully to
ratchet.txt (it never removes one).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RATCHET = HERE / "ratchet.txt"


def runner_path():
    default = ROOT.parent / "shared" / "conformance" / "run"
    return pathlib.Path(os.environ.get("ALLOTMENT_CONFORMANCE_RUN", default))


def server_command():
    allotment = pathlib.Path(sys.executable).parent / "allotment"
    return "%s serve --config-file {config} --port {port}" % allotment


def listed_files():
    names = []
    for line in RATCHET.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line)
    return names


def run(only=None, jobs=2):
    """Run the suite; return {file stem: (passed, failed, skipped)} and the
    runner's stdout."""
    with tempfile.TemporaryDirectory() as folder:
        report = pathlib.Path(folder) / "report.json"
        cmd = [
            str(runner_path()),
            "--server-cmd",
            server_command(),
            "--json",
            str(report),
            "-j",
            str(jobs),
        ]
        if only:
            cmd += ["--only", ",".join(name + ".yaml" for name in only)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if not report.exists():
            raise RuntimeError(
                "conformance runner produced no report:\n%s\n%s"
                % (proc.stdout[-3000:], proc.stderr[-3000:])
            )
        data = json.loads(report.read_text())
    results = {}
    for entry in data["files"]:
        stem = entry["file"].rsplit("/", 1)[-1].removesuffix(".yaml")
        totals = entry["totals"]
        failed = totals.get("failed", 0) + totals.get("errored", 0)
        if entry.get("error"):
            failed = failed or 1
        results[stem] = (
            totals.get("passed", 0),
            failed,
            totals.get("skipped", 0),
        )
    return results, proc.stdout


def update():
    results, _out = run()
    passing = sorted(n for n, (p, f, _s) in results.items() if p and not f)
    listed = listed_files()
    new = [n for n in passing if n not in listed]
    if new:
        header = [
            line
            for line in RATCHET.read_text().splitlines()
            if line.startswith("#")
        ]
        RATCHET.write_text(
            "\n".join(header + sorted(set(listed + new))) + "\n"
        )
    print(
        "passing fully: %d of %d files; added: %s"
        % (len(passing), len(results), ", ".join(new) or "none")
    )
    failing = sorted(n for n, (p, f, _s) in results.items() if f)
    print(
        "not yet passing: %s"
        % ", ".join(
            "%s (%d/%d)" % (n, results[n][0], results[n][0] + results[n][1])
            for n in failing
        )
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--update", action="store_true")
    args = parser.parse_args()
    if args.update:
        update()
        return 0
    results, out = run(listed_files())
    print(out)
    return 0 if all(not f for _p, f, _s in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
