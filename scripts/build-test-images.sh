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
  for f in "$@"; do cp -r "$f" "$ctx"/; done
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

# The task-probe image: the sdk-tests/task-probe binary (built by setup.sh),
# stripped, with the shared libraries ldd finds for it and the CA bundle
# (Debian package ca-certificates).
probe_rootfs() { # dir
  local root=$1 bin=target/debug/task-probe
  if [ ! -x "$bin" ]; then
    echo "setup: $bin is missing: run cargo build -p task-probe" >&2
    return 1
  fi
  mkdir -p "$root/usr/local/bin"
  strip -o "$root/usr/local/bin/task-probe" "$bin" 2>/dev/null || cp "$bin" "$root/usr/local/bin/task-probe"
  # The SDK's TLS client wants the CA bundle every real image carries.
  mkdir -p "$root/etc/ssl/certs"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
probe_ctx=$(mktemp -d)
trap 'rm -rf "$probe_ctx"' EXIT
probe_rootfs "$probe_ctx/rootfs"
build fargate-local-test/task-probe:latest docker/images/task-probe "$probe_ctx/rootfs"

