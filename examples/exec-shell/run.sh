#!/usr/bin/env bash
# ECS Exec: run a task with --enable-execute-command and get a shell in its
# container, with `aws ecs execute-command` (when the session-manager-plugin
# is installed) and with the emulator's own client, `fargate-local exec`.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/exec-shell/run.sh
# Without one, a throwaway emulator is started for the run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
BIN=${FARGATE_LOCAL_BIN:-$here/../../target/debug/fargate-local}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "exec-shell: $*" >&2; exit 1; }

aws ecs create-cluster --cluster-name dev --query cluster.status --output text | grep -qx ACTIVE \
  || fail "cluster not ACTIVE"
aws ecs register-task-definition --cli-input-json "file://$here/taskdef.json" \
  --query taskDefinition.taskDefinitionArn --output text
arn=$(aws ecs run-task --cluster dev --task-definition shell --launch-type FARGATE \
  --enable-execute-command \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=ENABLED}' \
  --query 'tasks[0].taskArn' --output text)
task=${arn##*/}
echo "task: $task"
aws ecs wait tasks-running --cluster dev --tasks "$arn"
agent=$(aws ecs describe-tasks --cluster dev --tasks "$arn" \
  --query 'tasks[0].containers[0].managedAgents[0].[name,lastStatus]' --output text)
[ "$agent" = "$(printf 'ExecuteCommandAgent\tRUNNING')" ] || fail "unexpected managed agent: $agent"
echo "managed agent: $agent"

# The AWS CLI's way, with the real session-manager-plugin. The plugin needs
# its stdin open until the session ends, hence the sleep.
if command -v session-manager-plugin >/dev/null; then
  out=$( (sleep 3) | aws ecs execute-command --cluster dev --task "$task" --container web \
    --interactive --command "cat /tmp/index.html")
  echo "$out"
  grep -q 'hello from fargate-local' <<<"$out" || fail "aws ecs execute-command did not show the file"
else
  echo "session-manager-plugin not installed: skipping 'aws ecs execute-command' (see README.md)"
fi

# The built-in client: same API, same protocol; exits with the command's code.
out=$("$BIN" exec --endpoint-url "$ENDPOINT" --cluster dev --task "$task" --container web \
  --command "cat /tmp/index.html" </dev/null)
[ "$out" = "$(printf 'hello from fargate-local\r')" ] || fail "fargate-local exec printed: $out"
echo "fargate-local exec: $out"
set +e
"$BIN" exec --endpoint-url "$ENDPOINT" --cluster dev --task "$task" --container web \
  --command "sh -c 'exit 4'" </dev/null 2>/dev/null
code=$?
set -e
[ "$code" = 4 ] || fail "the exit code was $code, not 4"
echo "the remote exit code comes back: $code"

# A shell fed from a pipe (end of input is Ctrl-D, which ends the shell).
out=$(printf 'echo $((6 * 7))\n' | "$BIN" exec --endpoint-url "$ENDPOINT" --cluster dev \
  --task "$task" --container web --command /bin/sh 2>/dev/null)
grep -q '^42' <<<"$out" || fail "the shell did not answer 42: $out"
echo "shell answered 42"

aws ecs stop-task --cluster dev --task "$arn" --query task.desiredStatus --output text
aws ecs wait tasks-stopped --cluster dev --tasks "$arn"
echo "exec-shell: ok"
