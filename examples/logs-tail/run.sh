#!/usr/bin/env bash
# `aws logs tail` (an AWS CLI v2 command) against the emulator's CloudWatch
# Logs: the events of a group in order, a filter pattern, and `--follow`
# printing events as they are put. The test venv's CLI is v1, which has no
# `logs tail`; this example uses Debian's AWS CLI v2 package (`awscli`,
# installed by `make setup`) at /usr/bin/aws, or $AWS_CLI_V2.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/logs-tail/run.sh
# Without one, a throwaway emulator is started for the run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
V2=${AWS_CLI_V2:-/usr/bin/aws}
fail() { echo "logs-tail: $*" >&2; exit 1; }
[ -x "$V2" ] || fail "no AWS CLI v2 at $V2 (apt-get install awscli, or set AWS_CLI_V2)"
"$V2" --version | grep -q '^aws-cli/2\.' || fail "$V2 is not AWS CLI v2: $("$V2" --version)"
aws() { "$V2" --endpoint-url "$ENDPOINT" "$@"; }

group=/ecs/rails/app
aws logs create-log-group --log-group-name "$group"
aws logs create-log-stream --log-group-name "$group" --log-stream-name web/app.web-firelens-1
now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }
put() { # put <message>...: one event per message, 1 ms apart, in order
  local t; t=$(now_ms)
  local events="" i=0
  for m in "$@"; do
    events+="${events:+,}{\"timestamp\":$((t + i)),\"message\":$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$m")}"
    i=$((i + 1))
  done
  aws logs put-log-events --log-group-name "$group" --log-stream-name web/app.web-firelens-1 \
    --log-events "[$events]" >/dev/null
}
put 'Started GET "/orders" for 10.0.0.7' 'ERROR ActiveRecord::RecordNotFound' 'Completed 200 OK in 12ms'

# The last hour of the group, as `--format short` prints it: time and message.
out=$(aws logs tail "$group" --since 1h --format short)
echo "$out"
[ "$(echo "$out" | sed 's/^[^ ]* //')" = 'Started GET "/orders" for 10.0.0.7
ERROR ActiveRecord::RecordNotFound
Completed 200 OK in 12ms' ] || fail "tail printed something else"

# The default format also names the stream. (Read whole first: `grep -q`
# on the pipe exits at the first match and the CLI then fails writing to
# the closed pipe.)
detailed=$(aws logs tail "$group" --since 1h)
grep -q '^[^ ]* web/app.web-firelens-1 ERROR ActiveRecord' <<<"$detailed" \
  || fail "detailed format lacks the stream name"

# A filter pattern.
[ "$(aws logs tail "$group" --since 1h --format short --filter-pattern ERROR | sed 's/^[^ ]* //')" \
  = 'ERROR ActiveRecord::RecordNotFound' ] || fail "filter pattern did not select the ERROR line"

# --follow: events put while following are printed once each.
followed=$(mktemp)
aws logs tail "$group" --follow --since 1h --format short >"$followed" 2>&1 &
tail_pid=$!
trap 'kill $tail_pid 2>/dev/null || true; rm -f "$followed"' EXIT
sleep 2
put 'Started GET "/health"' 'Completed 200 OK in 1ms'
for _ in $(seq 1 40); do
  grep -q 'Completed 200 OK in 1ms' "$followed" && break
  sleep 0.5
done
kill $tail_pid 2>/dev/null || true
wait $tail_pid 2>/dev/null || true
cat "$followed"
[ "$(sed 's/^[^ ]* //' "$followed")" = 'Started GET "/orders" for 10.0.0.7
ERROR ActiveRecord::RecordNotFound
Completed 200 OK in 12ms
Started GET "/health"
Completed 200 OK in 1ms' ] || fail "--follow did not print each event exactly once, in order"

# A group that does not exist: the CLI's error and exit code, as on AWS.
set +e
err=$(aws logs tail /ecs/rails/missing 2>&1)
rc=$?
set -e
[ $rc -eq 254 ] || fail "missing group: exit code $rc, want 254"
echo "$err" | grep -q 'ResourceNotFoundException.*The specified log group does not exist' \
  || fail "missing group: $err"
echo "logs-tail: ok"
