#!/usr/bin/env bash
# Builds the images the tests run, FROM scratch, from files on this machine.
# Rebuilt only when their recipe changes (Docker's cache makes it cheap).
set -euo pipefail
cd "$(dirname "$0")/.."

build() { # name dir [files to copy into the context...]
  local name=$1 dir=$2; shift 2
  local ctx
  ctx=$(mktemp -d)
  cp -r "$dir"/. "$ctx"/
  for f in "$@"; do cp "$f" "$ctx"/; done
  local out
  if ! out=$(docker build -q -t "$name" "$ctx" 2>&1); then
    echo "$out" >&2
    rm -rf "$ctx"
    echo "setup: building $name failed" >&2
    return 1
  fi
  rm -rf "$ctx"
  echo "setup: image $name ready"
}

build fargate-local-test/busybox:latest docker/images/busybox /bin/busybox
