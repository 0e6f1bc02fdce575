#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with Docker:
# Debian packages, a Python virtualenv with the pinned AWS CLI and botocore,
# and the locally built test images (no registry is needed or used).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# awscli is Debian's AWS CLI v2 (/usr/bin/aws), for `logs tail` in
# examples/logs-tail; the tests otherwise use the pinned v1 of .venv.
# chromium (headless) is the browser the console's sdk test drives.
# binutils (strip) makes the emulator's image (make image); docker-compose
# checks docker/compose.yaml (examples/compose). docker-registry (the
# Distribution registry) and apache2-utils (htpasswd) give the
# repositoryCredentials test a private registry of its own. valgrind
# counts the instructions of make bench's IAM section.
for pkg in busybox-static wrk nftables ca-certificates awscli chromium binutils docker-compose docker-registry apache2-utils valgrind; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "setup: the Docker engine is not reachable (docker info failed); start it and retry" >&2
  exit 1
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements-test
if [ ! -f "$stamp" ] || ! cmp -s requirements-test.txt "$stamp"; then
  echo "setup: installing requirements-test.txt into .venv"
  .venv/bin/pip install -q -r requirements-test.txt
  cp requirements-test.txt "$stamp"
fi

# The application the task-probe test image carries (sdk-tests/task-probe),
# and the emulator. The whole workspace is selected, as `make build` and
# scripts/test.sh select it, so that every dependency is built with one set
# of features: `-p task-probe` alone resolves other features and builds a
# second copy of the AWS SDK crates.
echo "setup: building task-probe and the emulator"
cargo build -q --workspace --bins

scripts/build-test-images.sh
