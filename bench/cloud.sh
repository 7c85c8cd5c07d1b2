#!/usr/bin/env bash
# Cloud-scale comparison with ../shared/bench/run: allotment and the reference
# (openstack-placement 16.0.0 via ../shared/reference-serve), same machine,
# same settings (SQLite on tmpfs, one worker), one after the other.
#
#   bench/cloud.sh [-n 1000] [--shape flat|nested] [--only ours|reference] [extra bench args...]
#
# Results: bench/out/<shape>-<n>-<server>.json, and a markdown comparison on
# stdout (bench/compare.py).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
shared=${ALLOTMENT_SHARED:-$root/../shared}
n=1000 shape=flat only=""
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) n=$2; shift 2;;
    --shape) shape=$2; shift 2;;
    --only) only=$2; shift 2;;
    *) extra+=("$1"); shift;;
  esac
done
mkdir -p "$here/out"
workdir=${BENCH_WORKDIR:-/dev/shm}
run_one() {
  local label=$1 cmd=$2
  "$shared/bench/run" --server-cmd "$cmd" --label "$label" -n "$n" --shape "$shape" \
    --workdir "$workdir" --json "$here/out/$shape-$n-$label.json" "${extra[@]}" \
    > "$here/out/$shape-$n-$label.txt"
}
if [[ -z $only || $only == ours ]]; then
  run_one allotment "$root/.venv/bin/allotment db sync --config-file {config} && exec $root/.venv/bin/allotment serve --config-file {config} --port {port} --workers {workers}"
fi
if [[ -z $only || $only == reference ]]; then
  run_one reference "$shared/reference-serve --config-file {config} --port {port} --workers {workers}"
fi
"$root/.venv/bin/python" "$here/compare.py" "$here/out/$shape-$n-allotment.json" \
  "$here/out/$shape-$n-reference.json"
