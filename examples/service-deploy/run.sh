#!/usr/bin/env bash
# The service-deploy scenario with the AWS CLI, behind a local load balancer:
# a target group, load balancer and HTTP listener made with `aws elbv2`; a
# service of two tasks with the deployment circuit breaker, registered in the
# target group, deployed with `wait services-stable`; updated to revision 2
# under continuous requests through the listener (none may fail); then
# updated to a revision whose container exits at once: the breaker trips and
# the service rolls back to revision 2 on its own, the listener serving v2
# throughout. Finally the service and the ELBv2 resources are deleted.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/service-deploy/run.sh
# Without one, a throwaway emulator is started for the run. LB_PORT picks the
# listener's host port (default: a free one).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "service-deploy: $*" >&2; exit 1; }
cluster=deploy-demo
port=${LB_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
front="http://127.0.0.1:$port/index.html"

# The background load (see load_start) and what is left to delete if the
# script stops half-way (against your own emulator; a throwaway one removes
# everything when it stops).
tmp=$(mktemp -d)
load_pid="" tg="" lb="" listener="" service="" done=""
on_exit() {
  if [ -n "$load_pid" ]; then
    kill "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
  fi
  if [ -z "$done" ]; then
    { [ -z "$service" ] || aws ecs delete-service --cluster $cluster --service web --force >/dev/null
      [ -z "$listener" ] || aws elbv2 delete-listener --listener-arn "$listener"
      [ -z "$lb" ] || aws elbv2 delete-load-balancer --load-balancer-arn "$lb"
      [ -z "$tg" ] || aws elbv2 delete-target-group --target-group-arn "$tg"; } >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One GET through the listener: prints "<status> <body>" ("000 ..." when
# nothing answered).
get() {
  local out body
  out=$(curl -s --max-time 5 -w '\n%{http_code}' "$front" 2>/dev/null) || true
  [ -n "$out" ] || out=$'\n000'
  body=${out%$'\n'*}
  body=${body%$'\n'}
  echo "${out##*$'\n'} ${body//$'\n'/ }"
}

# Requests through the listener every 50 ms into $tmp/load, one line each,
# until load_stop.
load_start() {
  : >"$tmp/load"
  rm -f "$tmp/stop"
  ( while [ ! -e "$tmp/stop" ]; do get >>"$tmp/load"; sleep 0.05; done ) &
  load_pid=$!
}
# Stops the load; fails unless every request was answered 200 and the last
# one by v2. Prints "N requests, 0 failed, ...".
load_stop() {
  touch "$tmp/stop"
  wait "$load_pid" || true
  load_pid=""
  local n failed v1 v2 last
  n=$(wc -l <"$tmp/load")
  failed=$(grep -cv '^200 ' "$tmp/load" || true)
  v1=$(grep -cx '200 web v1' "$tmp/load" || true)
  v2=$(grep -cx '200 web v2' "$tmp/load" || true)
  last=$(tail -1 "$tmp/load")
  echo "$n requests, $failed failed ($v1 web v1, $v2 web v2)"
  if [ "$failed" -ne 0 ]; then
    grep -v '^200 ' "$tmp/load" | sort | uniq -c | head -5 >&2
    fail "$failed of $n requests through the load balancer failed"
  fi
  [ "$n" -ge 20 ] || fail "only $n requests were made"
  [ "$last" = "200 web v2" ] || fail "the last request was answered '$last', not 'web v2'"
}

# What the listener answers to 10 requests, counted.
serving() {
  for _ in $(seq 1 10); do get; done | sort | uniq -c
}

# Waits (at most $1 s) until the target group has exactly 2 targets, both
# healthy.
wait_two_healthy() {
  local deadline=$((SECONDS + $1)) states
  while :; do
    states=$(aws elbv2 describe-target-health --target-group-arn "$tg" \
      --query 'TargetHealthDescriptions[].TargetHealth.State' --output text)
    [ "$states" = $'healthy\thealthy' ] && return 0
    [ $SECONDS -lt $deadline ] || fail "the target group's targets are '$states', not two healthy ones"
    sleep 1
  done
}

echo "== load balancer on 127.0.0.1:$port"
tg=$(aws elbv2 create-target-group --name deploy-demo-web --protocol HTTP --port 8080 \
  --vpc-id vpc-1 --target-type ip --health-check-path /index.html \
  --health-check-interval-seconds 5 --health-check-timeout-seconds 2 --healthy-threshold-count 2 \
  --query 'TargetGroups[0].TargetGroupArn' --output text)
aws elbv2 modify-target-group-attributes --target-group-arn "$tg" \
  --attributes Key=deregistration_delay.timeout_seconds,Value=5 \
  --query "Attributes[?Key=='deregistration_delay.timeout_seconds'].Value" --output text >/dev/null
lb=$(aws elbv2 create-load-balancer --name deploy-demo --subnets subnet-1 \
  --query 'LoadBalancers[0].LoadBalancerArn' --output text)
listener=$(aws elbv2 create-listener --load-balancer-arn "$lb" --protocol HTTP --port "$port" \
  --default-actions "Type=forward,TargetGroupArn=$tg" \
  --query 'Listeners[0].ListenerArn' --output text)
echo "$tg"
out=$(get)
[ "${out%% *}" = 503 ] || fail "the listener answers '$out' with no target, not 503"

aws ecs create-cluster --cluster-name $cluster --query cluster.status --output text >/dev/null
v1=$(aws ecs register-task-definition --cli-input-json "file://$here/web-v1.json" \
  --query taskDefinition.taskDefinitionArn --output text)
v2=$(aws ecs register-task-definition --cli-input-json "file://$here/web-v2.json" \
  --query taskDefinition.taskDefinitionArn --output text)
broken=$(aws ecs register-task-definition --cli-input-json "file://$here/web-broken.json" \
  --query taskDefinition.taskDefinitionArn --output text)

echo "== deploy $v1"
service=web
aws ecs create-service --cluster $cluster --service-name web --task-definition "$v1" \
  --desired-count 2 --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=ENABLED}' \
  --deployment-configuration 'deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100' \
  --load-balancers "targetGroupArn=$tg,containerName=web,containerPort=8080" \
  --query 'service.deployments[0].[id,rolloutState]' --output text
aws ecs wait services-stable --cluster $cluster --services web
wait_two_healthy 60
aws elbv2 describe-target-health --target-group-arn "$tg" \
  --query 'TargetHealthDescriptions[].[Target.Id,Target.Port,TargetHealth.State]' --output text
out=$(serving); echo "$out"
[ "$out" = "     10 200 web v1" ] || fail "expected the load balancer to serve v1"

echo "== update to $v2 under load"
load_start
aws ecs update-service --cluster $cluster --service web --task-definition "$v2" \
  --query 'service.deployments[].[status,taskDefinition]' --output text
aws ecs wait services-stable --cluster $cluster --services web
load_stop
grep -qx '200 web v1' "$tmp/load" || fail "no request was answered by v1 during the update"
wait_two_healthy 30
out=$(serving); echo "$out"
[ "$out" = "     10 200 web v2" ] || fail "expected the load balancer to serve only v2"
good=$(aws ecs describe-services --cluster $cluster --services web --query 'services[0].deployments[0].id' --output text)

echo "== update to the broken $broken under load"
load_start
aws ecs update-service --cluster $cluster --service web --task-definition "$broken" \
  --query 'service.deployments[].[status,taskDefinition]' --output text
# The waiter succeeds once the rollback has completed.
aws ecs wait services-stable --cluster $cluster --services web
load_stop
! grep -q 'web v1' "$tmp/load" || fail "v1 answered during the rollback"
aws ecs describe-services --cluster $cluster --services web \
  --query 'services[0].events[:6].message' --output text | tr '\t' '\n'
events=$(aws ecs describe-services --cluster $cluster --services web --query 'services[0].events[].message' --output text)
grep -q "deployment failed: tasks failed to start." <<<"$events" || fail "no circuit breaker event"
grep -q "rolling back to deployment $good." <<<"$events" || fail "no rollback to $good"
td=$(aws ecs describe-services --cluster $cluster --services web --query 'services[0].taskDefinition' --output text)
[ "$td" = "$v2" ] || fail "the service runs $td, not $v2"
wait_two_healthy 30
out=$(serving); echo "$out"
[ "$out" = "     10 200 web v2" ] || fail "expected the load balancer to serve v2 after the rollback"
aws ecs list-service-deployments --cluster $cluster --service web \
  --query 'serviceDeployments[].status' --output text

echo "== delete"
aws ecs delete-service --cluster $cluster --service web --force --query service.status --output text
aws ecs wait services-inactive --cluster $cluster --services web
service=""
aws elbv2 delete-listener --listener-arn "$listener"
listener=""
out=$(get)
[ "${out%% *}" = 000 ] || fail "the listener's port still answers '$out' after delete-listener"
aws elbv2 delete-load-balancer --load-balancer-arn "$lb"
lb=""
aws elbv2 delete-target-group --target-group-arn "$tg"
tg=""
left=$(aws elbv2 describe-target-groups --names deploy-demo-web 2>&1 || true)
grep -q TargetGroupNotFound <<<"$left" || fail "the target group is still there: $left"
aws ecs delete-cluster --cluster $cluster --query cluster.status --output text
done=yes
echo "service-deploy: ok"
