#!/usr/bin/env bash
# Runs a command against a throwaway emulator: starts `fargate-local serve
# --in-memory` on a free loopback port, exports ENDPOINT (and AWS_* test
# credentials), runs the command, then stops the emulator, which removes
# every container it started.
#   scripts/with-emulator.sh <command> [args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${FARGATE_LOCAL_BIN:-$root/target/debug/fargate-local}
[ -x "$BIN" ] || { echo "with-emulator: $BIN not built (run cargo build)" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
"$BIN" serve --in-memory --listen "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
stop() {
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/_fargate-local/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.05
done
export ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "with-emulator: command failed ($rc); emulator log:" >&2
  tail -50 "$log" >&2
fi
exit $rc
