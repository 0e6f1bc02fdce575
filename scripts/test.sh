#!/usr/bin/env bash
# The whole suite, in the order a failure is cheapest to find. Fails (and
# says why) if any Docker object of the emulator is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
BIN="$PWD/target/debug/fargate-local"
export FARGATE_LOCAL_BIN="$BIN"

# Every Docker object of any fargate-local instance, one id per line, and
# every container of the emulator's image (the image tests' emulators).
managed() {
  {
    docker ps -aq --no-trunc --filter label=fargate-local.managed=true
    docker ps -aq --no-trunc --filter ancestor=fargate-local:dev
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

# The emulator's image for the tests that run it (the testcontainers
# modules, the image's own scenarios, examples/compose): built from the debug
# binary just built, which saves CI a release build; `make image` builds the
# release one users get.
echo "== the emulator's image (fargate-local:dev, debug build)"
IMAGE_PROFILE=dev scripts/build-image.sh

echo "== SDK tests (real Docker)"
cargo test -q --workspace --test sdk -- --test-threads=2

# The held scenarios again, against the emulator's image (`make image`)
# started with the docker run line of `serve --help`: a task with a
# sidecar, metadata and task-role credentials from inside the task, an env
# file from S3, a FireLens-routed log line, an ECS Exec session, a service
# behind --front-door; and what its start-up log says of its container.
echo "== SDK tests against the emulator's image (fargate-local:dev)"
FARGATE_LOCAL_IMAGE=fargate-local:dev cargo test -q --workspace --test sdk -- --test-threads=2 \
  startup::the_start_up_log_says_where_it_runs \
  lifecycle::essential_container_exit_stops_the_task \
  task_endpoint::metadata_v4_answers_inside_the_task_with_fargates_fields \
  task_endpoint::task_role_credentials_are_per_task_and_attributed \
  task_env_files::env_files_follow_the_agent_rules_and_precedence \
  firelens::the_generated_config_alone_routes_a_container_with_secret_options \
  exec::commands_run_in_the_container_with_their_output_and_exit_code \
  load_balancer::front_door_flag_serves_a_service_without_elbv2_resources

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
