#!/usr/bin/env bash
# Cloud-scale comparison with ../shared/bench/run: allotment and the reference
# (openstack-placement 16.0.0 via ../shared/reference-serve), same machine,
# same settings (SQLite on tmpfs, one worker), one after the other.
#
#   bench/cloud.sh [-n 1000] [--shape flat|nested] [--only ours|reference]
#                  [--db sqlite|postgresql|mysql] [extra bench args...]
#
# --db postgresql or mysql: each server gets a fresh database on the shared
# server (127.0.0.1:5432 as postgres, 127.0.0.1:3306 as root), dropped
# afterwards. Results: bench/out/<shape>-<n>[-<db>]-<server>.json, and a
# markdown comparison on stdout (bench/compare.py).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
shared=${ALLOTMENT_SHARED:-$root/../shared}
n=1000 shape=flat only="" db=sqlite
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) n=$2; shift 2;;
    --shape) shape=$2; shift 2;;
    --only) only=$2; shift 2;;
    --db) db=$2; shift 2;;
    *) extra+=("$1"); shift;;
  esac
done
out_dir=${BENCH_OUT:-$here/out}
mkdir -p "$out_dir"
workdir=${BENCH_WORKDIR:-/dev/shm}
name=$shape-$n
[[ $db == sqlite ]] || name=$name-$db
dbname=""
drop_db() {
  case $db in
    postgresql) psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $dbname" ;;
    mysql) mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $dbname" ;;
  esac
}
db_args() {  # a fresh database $dbname on the shared server
  case $db in
    sqlite) return ;;
    postgresql)
      drop_db; psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $dbname"
      # The reference's SQLAlchemy would pick psycopg 3, which its
      # virtualenv lacks: name its psycopg2.
      local driver=postgresql
      [[ $1 == reference ]] && driver=postgresql+psycopg2
      echo "--db-url $driver://postgres@127.0.0.1:5432/$dbname" ;;
    mysql)
      drop_db; mysql -h 127.0.0.1 -u root -e "CREATE DATABASE $dbname CHARACTER SET utf8mb4"
      echo "--db-url mysql+pymysql://root@127.0.0.1:3306/$dbname?charset=utf8mb4" ;;
    *) echo "unknown --db $db" >&2; exit 2 ;;
  esac
}
run_one() {
  local label=$1 cmd=$2 status=0
  local dbargs
  dbname=allotment_bench_${label}_$$
  dbargs=$(db_args "$label")
  # shellcheck disable=SC2086  # $dbargs is empty or two words
  "$shared/bench/run" --server-cmd "$cmd" --label "$label" -n "$n" --shape "$shape" \
    --workdir "$workdir" $dbargs --json "$out_dir/$name-$label.json" "${extra[@]}" \
    > "$out_dir/$name-$label.txt" || status=$?
  drop_db
  return $status
}
if [[ -z $only || $only == ours ]]; then
  run_one allotment "$root/.venv/bin/allotment db sync --config-file {config} && exec $root/.venv/bin/allotment serve --config-file {config} --port {port} --workers {workers}"
fi
if [[ -z $only || $only == reference ]]; then
  run_one reference "$shared/reference-serve --config-file {config} --port {port} --workers {workers}"
fi
"$root/.venv/bin/python" "$here/compare.py" "$out_dir/$name-allotment.json" \
  "$out_dir/$name-reference.json"
