#!/usr/bin/env bash
# The whole suite, in the order a failure is cheapest to find. Fails (and
# says why) if any Docker object of the emulator is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
BIN="$PWD/target/debug/fargate-local"
export FARGATE_LOCAL_BIN="$BIN"

leftovers() {
  local c n v
  c=$(docker ps -aq --filter label=fargate-local.managed=true | wc -l)
  n=$(docker network ls -q --filter label=fargate-local.managed=true | wc -l)
  v=$(docker volume ls -q --filter label=fargate-local.managed=true | wc -l)
  echo "$c $n $v"
}
before=$(leftovers)

echo "== lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings

echo "== unit tests"
cargo test -q -p fargate-local

echo "== SDK tests (real Docker)"
cargo test -q -p sdk-tests -- --test-threads=2

echo "== wire conformance (botocore model)"
python -m pytest -q sdk-tests/conformance

echo "== examples (AWS CLI)"
for ex in examples/*/; do
  if [ -x "$ex/run.sh" ]; then
    echo "-- $ex"
    "$ex/run.sh"
  fi
done

after=$(leftovers)
if [ "$after" != "0 0 0" ]; then
  echo "test: Docker objects labelled fargate-local.managed=true were left behind (containers networks volumes: $after; before the run: $before)" >&2
  docker ps -a --filter label=fargate-local.managed=true >&2
  exit 1
fi
echo "== all tests passed"
