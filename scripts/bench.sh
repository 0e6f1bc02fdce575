#!/usr/bin/env bash
# `make bench`: the emulator's benchmarks, each against a baseline run side
# by side in the same run (see BENCHMARKS.md for what is measured and why).
# Builds the release emulator, installs moto[server] into .venv from
# requirements-bench.txt, runs scripts/bench/bench.py and prints its report
# (also written to target/bench/report.md, raw figures to results.json).
#
# Whatever happens, the trap stops every process the run started and removes
# every Docker object it created: baseline containers carry the label
# fargate-local-bench.run=<run id>, and the emulators' objects carry their
# instance ids.
#
# Knobs (environment): BENCH_ONLY=runtask,api,start,image,config,exec,firelens-task,firelens-engine,services,forward,sqs,console,sc,iam,egress,churn
#   BENCH_RUNS=15  BENCH_STARTS=20  BENCH_WRK_SECS=10  BENCH_EXEC_RUNS=7
#   BENCH_EXEC_MIB=32  BENCH_FIRELENS_LINES=100000  BENCH_FIRELENS_RUNS=3
#   BENCH_SVC_RUNS=5  BENCH_SVC_COUNT=20  BENCH_SVC_WINDOW=60  BENCH_SQS_SECS=10
#   BENCH_SC_REQUESTS=2000  BENCH_SC_RUNS=5
#   BENCH_CHURN_CLIENTS=8  BENCH_CHURN_SECS=60  BENCH_CHURN_ROUNDS=2
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

run_id="$(date +%s)-$$"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fargate-local-bench.XXXXXX")
: >"$tmp/pids"
: >"$tmp/instances"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Our processes only, by the ids recorded when they were started. A server
  # still alive here was left by an interrupted bench.py: SIGINT lets an
  # emulator remove its own containers, SIGKILL follows after a grace period.
  local pid alive=()
  while read -r pid; do
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive+=("$pid")
  done <"$tmp/pids"
  if [ ${#alive[@]} -gt 0 ]; then
    kill -INT "${alive[@]}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      local any=0
      for pid in "${alive[@]}"; do kill -0 "$pid" 2>/dev/null && any=1; done
      [ $any -eq 0 ] && break
      sleep 0.1
    done
    for pid in "${alive[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  # Docker objects this run created, and nothing else.
  local ids
  ids=$(docker ps -aq --filter "label=fargate-local-bench.run=$run_id" 2>/dev/null || true)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
  local inst
  while read -r inst; do
    [ -n "$inst" ] || continue
    ids=$(docker ps -aq --filter "label=fargate-local.instance=$inst" 2>/dev/null || true)
    [ -n "$ids" ] && docker rm -f -v $ids >/dev/null 2>&1 || true
    ids=$(docker volume ls -q --filter "label=fargate-local.instance=$inst" 2>/dev/null || true)
    [ -n "$ids" ] && docker volume rm -f $ids >/dev/null 2>&1 || true
    ids=$(docker network ls -q --filter "label=fargate-local.instance=$inst" 2>/dev/null || true)
    [ -n "$ids" ] && docker network rm $ids >/dev/null 2>&1 || true
  done <"$tmp/instances"
  rm -rf "$tmp"
  exit $rc
}
bench_pid=""
# A signal to this script reaches bench.py too (it stops its servers in its
# own `finally`); the EXIT trap then removes whatever is left.
interrupted() {
  [ -n "$bench_pid" ] && kill -TERM "$bench_pid" 2>/dev/null && wait "$bench_pid" 2>/dev/null
  exit "$1"
}
trap cleanup EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

command -v wrk >/dev/null || { echo "bench: wrk is missing (make setup installs it)" >&2; exit 1; }
docker image inspect fargate-local-test/busybox:latest >/dev/null 2>&1 ||
  { echo "bench: the test image is missing (make setup builds it)" >&2; exit 1; }

echo "bench: building the release emulator and its image" >&2
cargo build -q --release --workspace --bins
scripts/build-image.sh

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
stamp=.venv/.requirements-bench
if [ ! -f "$stamp" ] || ! cmp -s requirements-bench.txt "$stamp" || [ ! -x .venv/bin/moto_server ]; then
  echo "bench: installing requirements-bench.txt into .venv" >&2
  .venv/bin/pip install -q -r requirements-bench.txt
  cp requirements-bench.txt "$stamp"
fi

mkdir -p target/bench
# In the background and waited for, so that a signal interrupts the wait and
# the traps run at once (not exec: the EXIT trap must run after bench.py).
BENCH_TMP="$tmp" .venv/bin/python scripts/bench/bench.py \
  --bin "$root/target/release/fargate-local" \
  --moto "$root/.venv/bin/moto_server" \
  --lua "$root/scripts/bench/awsjson.lua" \
  --tmp "$tmp" --run "$run_id" --out "$root/target/bench" \
  --only "${BENCH_ONLY:-runtask,api,start,image,config,exec,firelens-task,firelens-engine,services,forward,sqs,console,sc,iam,egress,churn}" \
  --firelens-lines "${BENCH_FIRELENS_LINES:-100000}" --firelens-runs "${BENCH_FIRELENS_RUNS:-3}" \
  --svc-runs "${BENCH_SVC_RUNS:-5}" --svc-count "${BENCH_SVC_COUNT:-20}" \
  --svc-window "${BENCH_SVC_WINDOW:-60}" \
  --exec-runs "${BENCH_EXEC_RUNS:-7}" --exec-mib "${BENCH_EXEC_MIB:-32}" \
  --runs "${BENCH_RUNS:-15}" --starts "${BENCH_STARTS:-20}" \
  --sqs-secs "${BENCH_SQS_SECS:-10}" \
  --sc-requests "${BENCH_SC_REQUESTS:-2000}" \
  --sc-runs "${BENCH_SC_RUNS:-5}" \
  --churn-clients "${BENCH_CHURN_CLIENTS:-8}" --churn-secs "${BENCH_CHURN_SECS:-60}" \
  --churn-rounds "${BENCH_CHURN_ROUNDS:-2}" \
  --wrk-secs "${BENCH_WRK_SECS:-10}" &
bench_pid=$!
wait "$bench_pid"
