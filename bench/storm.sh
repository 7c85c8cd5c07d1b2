#!/usr/bin/env bash
# Boot storm at cloud scale, for allotment and the reference
# (../shared/reference-serve), one after the other on the same machine:
# start the server (SQLite on tmpfs, one worker), build and time the read
# queries with ../shared/bench/run --url, then bench/boot_storm.py (the
# usual candidates query timed idle, then while 8 clients claim).
#
#   bench/storm.sh [-n 10000] [--only ours|reference] [--seconds 60] [extra run args...]
#
# Results: bench/out/storm-flat-<n>-<server>.json (reads) and
# .storm.json (the storm), and a comparison on stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
shared=${ALLOTMENT_SHARED:-$root/../shared}
n=10000 only="" seconds=60
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) n=$2; shift 2;;
    --only) only=$2; shift 2;;
    --seconds) seconds=$2; shift 2;;
    *) extra+=("$1"); shift;;
  esac
done
out_dir=${BENCH_OUT:-$here/out}
mkdir -p "$out_dir"
run_one() {
  local label=$1
  local work port pid out
  work=$(mktemp -d "${BENCH_WORKDIR:-/dev/shm}/storm-XXXXXX")
  port=$((20000 + RANDOM % 20000))
  printf '[placement_database]\nconnection = sqlite:///%s/placement.db\n[api]\nauth_strategy = noauth2\n' \
    "$work" > "$work/placement.conf"
  if [[ $label == allotment ]]; then
    "$root/.venv/bin/allotment" db sync --config-file "$work/placement.conf" >/dev/null
    setsid "$root/.venv/bin/allotment" serve --config-file "$work/placement.conf" \
      --port "$port" --workers 1 > "$work/server.log" 2>&1 &
  else
    setsid "$shared/reference-serve" --config-file "$work/placement.conf" \
      --port "$port" --workers 1 --timeout 300 > "$work/server.log" 2>&1 &
  fi
  pid=$!
  trap 'kill -- -'"$pid"' 2>/dev/null || true' EXIT
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.5
  done
  out="$out_dir/storm-flat-$n-$label"
  "$shared/bench/run" --url "http://127.0.0.1:$port" --server-pid "$pid" \
    --label "$label" -n "$n" --shape flat --scenarios read \
    --json "$out.json" "${extra[@]}" > "$out.txt"
  "$root/.venv/bin/python" "$here/boot_storm.py" --url "http://127.0.0.1:$port" \
    --seconds "$seconds" --label "$label" --json "$out.storm.json" > /dev/null
  kill -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  trap - EXIT
  rm -rf "$work"
}
if [[ -z $only || $only == ours ]]; then run_one allotment; fi
if [[ -z $only || $only == reference ]]; then run_one reference; fi
"$root/.venv/bin/python" "$here/compare.py" "$out_dir/storm-flat-$n-allotment.json" \
  "$out_dir/storm-flat-$n-reference.json"
echo
"$root/.venv/bin/python" "$here/compare.py" --storm \
  "$out_dir/storm-flat-$n-allotment.storm.json" "$out_dir/storm-flat-$n-reference.storm.json"
