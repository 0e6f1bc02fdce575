#!/usr/bin/env bash
# The whole suite, in the order a failure is cheapest to find. Fails (and
# says why) if any Docker object of the emulator is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
BIN="$PWD/target/debug/fargate-local"
export FARGATE_LOCAL_BIN="$BIN"

# Every Docker object of any fargate-local instance, one id per line.
managed() {
  {
    docker ps -aq --no-trunc --filter label=fargate-local.managed=true
    docker network ls -q --no-trunc --filter label=fargate-local.managed=true
    docker volume ls -q --filter label=fargate-local.managed=true
  } | sort
}
before=$(managed)

echo "== lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings

# Every cargo command selects the whole workspace, as `make build` does:
# `-p <one crate>` resolves the dependencies' features for that crate alone
# and builds them all again, gigabytes more on disk and minutes more.
echo "== unit tests"
cargo test -q --workspace --lib --bins

echo "== in-process API tests (fake runtime)"
cargo test -q --workspace --test api

echo "== SDK tests (real Docker)"
cargo test -q --workspace --test sdk -- --test-threads=2

echo "== wire conformance (botocore model)"
python -m pytest -q sdk-tests/conformance

echo "== examples (AWS CLI)"
for ex in examples/*/; do
  if [ -x "$ex/run.sh" ]; then
    echo "-- $ex"
    "$ex/run.sh"
  fi
done

# Objects that appeared during the run and are still there: a leak.
left=$(comm -13 <(echo "$before") <(managed) | grep -v '^$' || true)
if [ -n "$left" ]; then
  echo "test: the run left Docker objects labelled fargate-local.managed=true behind:" >&2
  echo "$left" >&2
  docker ps -a --filter label=fargate-local.managed=true >&2
  exit 1
fi
echo "== all tests passed"
