#!/usr/bin/env bash
# The worker-queue scenario with the AWS CLI: a jobs queue whose
# RedrivePolicy sends a message to a dead-letter queue after 2 receives; a
# worker service (one busybox task) long-polling the jobs queue; a producer
# task sending five jobs and one "poison" message. The five jobs are
# processed (their results arrive on the results queue and the jobs queue
# ends empty); the poison message, never deleted by the worker, ends up in
# the dead-letter queue. Then everything is deleted.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/worker-queue/run.sh
# Without one, a throwaway emulator is started for the run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "worker-queue: $*" >&2; exit 1; }
cluster=worker-demo

# What is left to delete if the script stops half-way (against your own
# emulator; a throwaway one removes everything when it stops).
tmp=$(mktemp -d)
service="" jobs="" dlq="" results="" done=""
on_exit() {
  if [ -z "$done" ]; then
    { [ -z "$service" ] || aws ecs delete-service --cluster $cluster --service worker --force
      for q in "$jobs" "$dlq" "$results"; do [ -z "$q" ] || aws sqs delete-queue --queue-url "$q"; done
    } >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A Fargate task definition of one busybox container running sqs.sh then
# $2 (a script of this directory), with the queues' names in its environment.
taskdef() {
  python3 - "$here" "$1" "$2" <<'PY'
import json, sys
here, family, script = sys.argv[1:]
code = open(f"{here}/sqs.sh").read() + open(f"{here}/{script}").read()
print(json.dumps({
    "family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
    "cpu": "256", "memory": "512",
    "containerDefinitions": [{
        "name": family, "image": "fargate-local-test/busybox:latest", "essential": True,
        "environment": [{"name": "JOBS_QUEUE", "value": "jobs"},
                        {"name": "RESULTS_QUEUE", "value": "results"}],
        "command": ["sh", "-c", code], "stopTimeout": 2}]}))
PY
}

echo "== queues"
dlq=$(aws sqs create-queue --queue-name jobs-dlq --query QueueUrl --output text)
dlq_arn=$(aws sqs get-queue-attributes --queue-url "$dlq" --attribute-names QueueArn \
  --query Attributes.QueueArn --output text)
attrs=$(python3 -c 'import json,sys; print(json.dumps({"VisibilityTimeout": "2",
  "RedrivePolicy": json.dumps({"deadLetterTargetArn": sys.argv[1], "maxReceiveCount": "2"})}))' "$dlq_arn")
jobs=$(aws sqs create-queue --queue-name jobs --attributes "$attrs" --query QueueUrl --output text)
results=$(aws sqs create-queue --queue-name results --query QueueUrl --output text)
aws sqs get-queue-attributes --queue-url "$jobs" --attribute-names RedrivePolicy \
  --query Attributes.RedrivePolicy --output text
aws sqs list-dead-letter-source-queues --queue-url "$dlq" --query queueUrls --output text

echo "== worker service"
aws ecs create-cluster --cluster-name $cluster --query cluster.status --output text >/dev/null
taskdef worker worker.sh >"$tmp/worker.json"
taskdef producer producer.sh >"$tmp/producer.json"
aws ecs register-task-definition --cli-input-json "file://$tmp/worker.json" \
  --query taskDefinition.taskDefinitionArn --output text
aws ecs register-task-definition --cli-input-json "file://$tmp/producer.json" \
  --query taskDefinition.taskDefinitionArn --output text
service=worker
net='awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=ENABLED}'
aws ecs create-service --cluster $cluster --service-name worker --task-definition worker \
  --desired-count 1 --launch-type FARGATE --network-configuration "$net" \
  --query service.status --output text
aws ecs wait services-stable --cluster $cluster --services worker

echo "== producer task"
arn=$(aws ecs run-task --cluster $cluster --task-definition producer --launch-type FARGATE \
  --network-configuration "$net" --query 'tasks[0].taskArn' --output text)
aws ecs wait tasks-stopped --cluster $cluster --tasks "$arn"
code=$(aws ecs describe-tasks --cluster $cluster --tasks "$arn" \
  --query 'tasks[0].containers[0].exitCode' --output text)
[ "$code" = 0 ] || fail "the producer exited with $code"

echo "== results"
# Receives from $1 for at most $2 s, deleting what it gets, until $3
# messages are in $tmp/got.
collect() {
  local deadline=$((SECONDS + $2)) out
  : >"$tmp/got"
  while [ "$(wc -l <"$tmp/got")" -lt "$3" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    out=$(aws sqs receive-message --queue-url "$1" --max-number-of-messages 10 --wait-time-seconds 2 \
      --attribute-names ApproximateReceiveCount \
      --query 'Messages[].[Body,ReceiptHandle,Attributes.ApproximateReceiveCount]' --output text)
    [ -z "$out" ] || [ "$out" = None ] && continue
    while IFS=$'\t' read -r body handle count; do
      echo "$body (received $count times)" >>"$tmp/got"
      aws sqs delete-message --queue-url "$1" --receipt-handle "$handle"
    done <<<"$out"
  done
}
collect "$results" 30 5 || fail "the results queue got only: $(cat "$tmp/got")"
sort "$tmp/got"
[ "$(cut -d' ' -f1,2 "$tmp/got" | sort | tr '\n' ' ')" = "done job-1 done job-2 done job-3 done job-4 done job-5 " ] \
  || fail "unexpected results: $(cat "$tmp/got")"

echo "== dead-letter queue"
collect "$dlq" 30 1 || fail "the poison message did not reach the dead-letter queue"
cat "$tmp/got"
grep -q '^poison-6 ' "$tmp/got" || fail "the dead-letter queue got $(cat "$tmp/got")"
left=$(aws sqs get-queue-attributes --queue-url "$jobs" \
  --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible \
  --query 'Attributes.[ApproximateNumberOfMessages,ApproximateNumberOfMessagesNotVisible]' --output text)
echo "jobs queue: $left (visible, in flight)"
[ "$left" = $'0\t0' ] || fail "the jobs queue still holds $left messages"

echo "== delete"
aws ecs delete-service --cluster $cluster --service worker --force --query service.status --output text
aws ecs wait services-inactive --cluster $cluster --services worker
service=""
for q in "$jobs" "$dlq" "$results"; do aws sqs delete-queue --queue-url "$q"; done
jobs="" dlq="" results=""
aws ecs delete-cluster --cluster $cluster --query cluster.status --output text
done=yes
echo "worker-queue: ok"
