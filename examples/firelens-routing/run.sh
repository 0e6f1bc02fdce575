#!/usr/bin/env bash
# FireLens routing for a Rails task with the AWS CLI: build the router image
# (the routing config baked in) and the app image, register the task
# definition, run it, wait until it stops, then read the four log groups the
# router filled.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/firelens-routing/run.sh
# Without one, a throwaway emulator is started for the run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "firelens-routing: $*" >&2; exit 1; }

# Images: no registry needed, both FROM the local busybox test image.
build() { local out; out=$(docker build -q "$@" 2>&1) || { echo "$out" >&2; fail "docker build $*"; }; }
build --build-arg BASE=fargate-local-test/busybox:latest \
  -t fargate-local-test/rails-log-router:latest "$here/router"
build -t fargate-local-test/rails-app:latest "$here/app"

aws s3api create-bucket --bucket rails-log-archive >/dev/null
aws ecs create-cluster --cluster-name rails --query cluster.status --output text | grep -qx ACTIVE \
  || fail "cluster not ACTIVE"
aws ecs register-task-definition --cli-input-json "file://$here/taskdef.json" \
  --query taskDefinition.taskDefinitionArn --output text
arn=$(aws ecs run-task --cluster rails --task-definition rails --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=DISABLED}' \
  --query 'tasks[0].taskArn' --output text)
echo "task: $arn"
id=${arn##*/}
# web exits after its last request; the router stops last and ships the tail.
aws ecs wait tasks-stopped --cluster rails --tasks "$arn"
aws ecs describe-tasks --cluster rails --tasks "$arn" \
  --query 'tasks[0].[lastStatus,stoppedReason]' --output text

echo "-- log groups"
aws logs describe-log-groups --log-group-name-prefix /ecs/rails/ \
  --query 'logGroups[].[logGroupName,retentionInDays]' --output text
groups=$(aws logs describe-log-groups --log-group-name-prefix /ecs/rails/ \
  --query 'logGroups[].logGroupName' --output text)
for g in /ecs/rails/app /ecs/rails/worker /ecs/rails/health-check /ecs/rails/queue-polling; do
  grep -qw -- "$g" <<<"$groups" || fail "no log group $g"
done

echo "-- /ecs/rails/app (request logs, parsed)"
paths=$(aws logs get-log-events --log-group-name /ecs/rails/app \
  --log-stream-name "web/app.web-firelens-$id" --start-from-head \
  --query 'events[].message' --output json \
  | python3 -c 'import json,sys; print(" ".join(json.loads(m)["request_id"] for m in json.load(sys.stdin)))')
echo "$paths"
[ "$paths" = "req-1 req-2 req-3" ] || fail "unexpected request logs: $paths"

echo "-- /ecs/rails/health-check"
hc=$(aws logs get-log-events --log-group-name /ecs/rails/health-check \
  --log-stream-name "hc/health.web-firelens-$id" --query 'events[].message' --output text)
echo "$hc"
grep -q 'ELB-HealthChecker/2.0' <<<"$hc" || fail "no health check line"

echo "-- /ecs/rails/queue-polling"
aws logs get-log-events --log-group-name /ecs/rails/queue-polling \
  --log-stream-name "poll/queue.worker-firelens-$id" --query 'events[].message' --output text

echo "-- /ecs/rails/worker, filter-pattern ERROR"
err=$(aws logs filter-log-events --log-group-name /ecs/rails/worker --filter-pattern ERROR \
  --query 'events[].message' --output json \
  | python3 -c 'import json,sys; [print(json.loads(m)["log"]) for m in json.load(sys.stdin)]')
echo "$err"
[ "$(grep -c . <<<"$err")" = 3 ] || fail "the backtrace is not one event of 3 lines"
grep -q "charge_customer_job.rb:12:in 'ChargeCustomerJob#perform'" <<<"$err" || fail "no backtrace"

echo "-- s3://rails-log-archive"
aws s3api list-objects-v2 --bucket rails-log-archive --query 'Contents[].Key' --output text
echo "firelens-routing: ok"
