#!/usr/bin/env bash
# `make dist`: the release binaries as they ship, in target/dist/:
# fargate-local and fargate-local-task without their debug information
# (each well under the 214 MB the release build's line tables make it), and
# beside each its debug file, fargate-local.debug (compressed), named by a
# .gnu_debuglink section: a panic's backtrace still names files and lines
# as long as the .debug file sits next to the binary (std's symbolizer
# follows the link). Needs objcopy (binutils).
#   scripts/dist.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/dist}
command -v objcopy >/dev/null || { echo "dist: objcopy is missing (apt-get install binutils)" >&2; exit 1; }
${CARGO:-cargo} build -q --release -p fargate-local
mkdir -p "$out"
for bin in fargate-local fargate-local-task; do
  rm -f "$out/$bin" "$out/$bin.debug"
  objcopy --only-keep-debug --compress-debug-sections=zlib "target/release/$bin" "$out/$bin.debug"
  # The link is by file name (and CRC): run from the directory of the
  # .debug file so that it records the bare name.
  (cd "$out" && objcopy --strip-debug --strip-unneeded --add-gnu-debuglink="$bin.debug" \
    "$OLDPWD/target/release/$bin" "$bin")
  chmod -x "$out/$bin.debug"
  echo "dist: $out/$bin ($(du -h "$out/$bin" | cut -f1)), $out/$bin.debug ($(du -h "$out/$bin.debug" | cut -f1))" >&2
done
