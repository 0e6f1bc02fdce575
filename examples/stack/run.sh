#!/usr/bin/env bash
# The stack scenario with the AWS CLI: a `db` container on a user Docker
# network (as `docker compose up db` makes it: network <project>_default,
# alias `db`), a web service `api` whose subnet is mapped onto that network
# (so it reaches `db:5432`) and which Service Connect names `api:80` in the
# namespace `stack` (its container listens on 8080), and a worker service
# that calls `http://api:80/cgi-bin/rows` every half second and logs the
# answer, which api got from db. The worker's log (CloudWatch Logs) shows
# the database's answer through both hops; the api service is scaled to 2
# and both of its tasks answer the worker. Then everything is deleted.
#
# Against an emulator you started yourself, on a network of your own with
# a `db` container answering HTTP on 5432:
#   fargate-local serve --subnet subnet-stack=NETWORK &
#   ENDPOINT=http://127.0.0.1:4566 STACK_NETWORK=NETWORK examples/stack/run.sh
# Without ENDPOINT, the script makes the network and the db container,
# starts a throwaway emulator with the subnet mapped, and removes them all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image=fargate-local-test/busybox:latest

if [ -z "${ENDPOINT:-}" ]; then
  project="stackdemo$$"
  export STACK_NETWORK="${project}_default"
  db="${project}_db_1"
  cleanup() {
    docker rm -f "$db" >/dev/null 2>&1 || true
    docker network rm "$STACK_NETWORK" >/dev/null 2>&1 || true
  }
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo "== the compose side: network $STACK_NETWORK, container $db (alias db)"
  docker network create --label "com.docker.compose.project=$project" \
    --label com.docker.compose.network=default "$STACK_NETWORK" >/dev/null
  docker run -d --name "$db" --network "$STACK_NETWORK" --network-alias db \
    --label "com.docker.compose.project=$project" --label com.docker.compose.service=db \
    "$image" sh -c 'mkdir -p /www && echo "rows=3" > /www/index.html && exec httpd -f -p 5432 -h /www' >/dev/null
  export FARGATE_LOCAL_SUBNETS="subnet-stack=$STACK_NETWORK"
  "$here/../../scripts/with-emulator.sh" "$0" "$@"
  exit $?
fi
: "${STACK_NETWORK:?set STACK_NETWORK to the network the emulator maps subnet-stack to}"
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "stack: $*" >&2; exit 1; }
cluster=stack-demo

tmp=$(mktemp -d)
services="" ns="" done=""
on_exit() {
  if [ -z "$done" ]; then
    { for s in $services; do aws ecs delete-service --cluster $cluster --service "$s" --force; done
    } >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A Fargate task definition of one busybox container running $2, logging
# to the log group /stack/$1.
taskdef() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
family, script, port = sys.argv[1:]
c = {"name": family, "image": "fargate-local-test/busybox:latest", "essential": True,
     "command": ["sh", "-c", script], "stopTimeout": 2,
     "logConfiguration": {"logDriver": "awslogs", "options": {
         "awslogs-group": f"/stack/{family}", "awslogs-region": "us-east-1",
         "awslogs-stream-prefix": "stack", "awslogs-create-group": "true"}}}
if port:
    c["portMappings"] = [{"containerPort": int(port), "name": "http", "appProtocol": "http"}]
print(json.dumps({"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
                  "cpu": "256", "memory": "512", "containerDefinitions": [c],
                  "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"}))
PY
}

echo "== namespace"
op=$(aws servicediscovery create-http-namespace --name stack --query OperationId --output text)
ns=$(aws servicediscovery get-operation --operation-id "$op" --query Operation.Targets.NAMESPACE --output text)
echo "$ns"
aws ecs create-cluster --cluster-name $cluster \
  --service-connect-defaults namespace=stack --query cluster.status --output text

echo "== api: a web service on the compose network, behind api:80"
# A CGI script answering with what db says, tagged with the task's host name.
api_script='mkdir -p /www/cgi-bin && printf "#!/bin/sh\necho Content-Type: text/plain\necho\necho \"\$(hostname) db says \$(wget -q -O - http://db:5432/)\"\n" > /www/cgi-bin/rows && chmod +x /www/cgi-bin/rows && exec httpd -f -p 8080 -h /www'
taskdef api "$api_script" 8080 >"$tmp/api.json"
aws ecs register-task-definition --cli-input-json "file://$tmp/api.json" \
  --query taskDefinition.taskDefinitionArn --output text
services="api"
aws ecs create-service --cluster $cluster --service-name api --task-definition api \
  --desired-count 1 --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-stack]}' \
  --service-connect-configuration '{"enabled": true, "services": [{"portName": "http",
     "discoveryName": "api", "clientAliases": [{"port": 80, "dnsName": "api"}]}]}' \
  --query 'service.deployments[0].serviceConnectResources[0].discoveryName' --output text
aws ecs wait services-stable --cluster $cluster --services api

echo "== worker: a client of api through Service Connect"
worker_script='trap "exit 0" TERM; while true; do wget -q -O - http://api:80/cgi-bin/rows || echo "request failed"; sleep 0.5 & wait $!; done'
taskdef worker "$worker_script" >"$tmp/worker.json"
aws ecs register-task-definition --cli-input-json "file://$tmp/worker.json" \
  --query taskDefinition.taskDefinitionArn --output text
services="api worker"
aws ecs create-service --cluster $cluster --service-name worker --task-definition worker \
  --desired-count 1 --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-1]}' \
  --service-connect-configuration '{"enabled": true}' --query service.status --output text
aws ecs wait services-stable --cluster $cluster --services worker

# The worker's log lines so far, from CloudWatch Logs.
worker_log() {
  aws logs filter-log-events --log-group-name /stack/worker --query 'events[].message' --output text \
    | tr '\t' '\n'
}
# Waits up to $1 s until the worker's log has $2 distinct "db says" hosts.
wait_hosts() {
  local deadline=$((SECONDS + $1))
  while :; do
    worker_log >"$tmp/log"
    n=$(grep 'db says rows=3' "$tmp/log" | cut -d' ' -f1 | sort -u | wc -l)
    [ "$n" -ge "$2" ] && return 0
    [ $SECONDS -lt $deadline ] || return 1
    sleep 1
  done
}
wait_hosts 30 1 || fail "the worker never got db's answer through api: $(tail -5 "$tmp/log")"
grep 'db says' "$tmp/log" | tail -2

echo "== api scaled to 2: both tasks answer the worker"
aws ecs update-service --cluster $cluster --service api --desired-count 2 \
  --query service.desiredCount --output text
aws ecs wait services-stable --cluster $cluster --services api
wait_hosts 30 2 || fail "only one api task answered: $(tail -5 "$tmp/log")"
grep 'db says' "$tmp/log" | cut -d' ' -f1 | sort | uniq -c
if grep -q 'request failed' "$tmp/log"; then
  fail "the worker saw failed requests: $(grep -c 'request failed' "$tmp/log")"
fi

echo "== delete"
for s in worker api; do
  aws ecs delete-service --cluster $cluster --service $s --force --query service.status --output text
done
aws ecs wait services-inactive --cluster $cluster --services worker api
services=""
for id in $(aws servicediscovery list-services --query 'Services[].Id' --output text); do
  aws servicediscovery delete-service --id "$id"
done
aws servicediscovery delete-namespace --id "$ns" --query OperationId --output text >/dev/null
# The services' tasks are still stopping (draining, stopTimeout): a cluster
# with active tasks cannot be deleted, on AWS as here.
stopping=$(aws ecs list-tasks --cluster $cluster --desired-status STOPPED --query 'taskArns[]' --output text)
if [ -n "$stopping" ] && [ "$stopping" != None ]; then
  aws ecs wait tasks-stopped --cluster $cluster --tasks $stopping
fi
aws ecs delete-cluster --cluster $cluster --query cluster.status --output text
left=$(docker network inspect "$STACK_NETWORK" --format '{{len .Containers}}')
[ "$left" = 1 ] || fail "$STACK_NETWORK still has $left endpoints (only db should be left)"
done=yes
echo "stack: ok"
