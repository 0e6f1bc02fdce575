#!/usr/bin/env bash
# An integration suite on pytest that starts fargate-local through the
# Python testcontainers module (testcontainers-modules/python): one emulator
# for the session from the image `make image` built, reset between tests;
# a task runs, its exit code, its output in CloudWatch Logs and its stop are
# checked with boto3. Needs `make image` and the .venv (`make setup`).
#   examples/testcontainers-python/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
python=${PYTHON:-$root/.venv/bin/python}
if ! docker image inspect fargate-local:dev >/dev/null 2>&1; then
  echo "testcontainers-python: the image fargate-local:dev is missing: run make image" >&2
  exit 1
fi
# Ryuk, testcontainers' reaper, comes from a registry; the module stops its
# emulator itself.
export TESTCONTAINERS_RYUK_DISABLED=true
export PYTHONPATH="$root/testcontainers-modules/python${PYTHONPATH:+:$PYTHONPATH}"
cd "$here"
INSTANCE_FILE=$(mktemp)
export INSTANCE_FILE
trap 'rm -f "$INSTANCE_FILE"' EXIT
"$python" -m pytest -q -p no:cacheprovider test_suite.py
instance=$(cat "$INSTANCE_FILE")
[ -n "$instance" ] || { echo "testcontainers-python: the suite did not name its emulator" >&2; exit 1; }
filter="label=fargate-local.instance=$instance"
left=$(docker ps -aq --filter "$filter"; docker network ls -q --filter "$filter"; docker volume ls -q --filter "$filter")
if [ -n "$left" ]; then
  echo "testcontainers-python: the emulator $instance left Docker objects behind: $left" >&2
  exit 1
fi
echo "testcontainers-python: passed; nothing of emulator $instance is left"
