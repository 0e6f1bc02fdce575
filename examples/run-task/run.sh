#!/usr/bin/env bash
# The run-task scenario with the AWS CLI: create a cluster, register a
# two-container Fargate task definition, run it, wait for RUNNING, reach the
# web container from the host and from its sidecar over localhost, stop it.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/run-task/run.sh
# Without one, a throwaway emulator is started for the run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "run-task: $*" >&2; exit 1; }

aws ecs create-cluster --cluster-name dev --query cluster.status --output text | grep -qx ACTIVE \
  || fail "cluster not ACTIVE"
aws ecs register-task-definition --cli-input-json "file://$here/taskdef.json" \
  --query taskDefinition.taskDefinitionArn --output text
arn=$(aws ecs run-task --cluster dev --task-definition web --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=ENABLED}' \
  --query 'tasks[0].taskArn' --output text)
echo "task: $arn"
aws ecs wait tasks-running --cluster dev --tasks "$arn"

port=$(aws ecs describe-tasks --cluster dev --tasks "$arn" \
  --query "tasks[0].containers[?name=='web'].networkBindings[0].hostPort" --output text)
body=$(curl -sf "http://127.0.0.1:$port/index.html") || fail "web container not reachable on host port $port"
[ "$body" = "hello from fargate-local" ] || fail "unexpected body: $body"
echo "host port $port answers: $body"

# The sidecar reaches the web container on localhost, then exits 0.
for _ in $(seq 1 50); do
  code=$(aws ecs describe-tasks --cluster dev --tasks "$arn" \
    --query "tasks[0].containers[?name=='probe'].exitCode | [0]" --output text)
  [ "$code" != "None" ] && break
  sleep 0.2
done
[ "$code" = "0" ] || fail "sidecar could not reach localhost:8080 (exit code $code)"
echo "sidecar reached web over localhost (exit code 0)"

# The same task in the console, the page a browser shows at this address.
id=${arn##*/}
page="$ENDPOINT/_fargate-local/console/clusters/dev/tasks/$id"
html=$(curl -sf "$page") || fail "the console has no page for the task"
for want in RUNNING "Container</span>web" "Container</span>probe" "http://"; do
  grep -qF "$want" <<<"$html" || fail "the console's task page does not show $want"
done
echo "console: $page"

aws ecs stop-task --cluster dev --task "$arn" --reason "example done" --query task.desiredStatus --output text
aws ecs wait tasks-stopped --cluster dev --tasks "$arn"
aws ecs describe-tasks --cluster dev --tasks "$arn" \
  --query 'tasks[0].[lastStatus,stopCode,stoppedReason]' --output text
echo "run-task: ok"
