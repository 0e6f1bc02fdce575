#!/usr/bin/env bash
# The service-deploy scenario with the AWS CLI: a service of two tasks with
# the deployment circuit breaker, deployed with `wait services-stable`,
# updated to revision 2 (rolling, the new tasks serve v2), then updated to a
# revision whose container exits at once: the breaker trips and the service
# rolls back to revision 2 on its own. Finally the service is deleted.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/service-deploy/run.sh
# Without one, a throwaway emulator is started for the run.
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

# What every task of the service serves, through its published host port.
serving() {
  local arns
  arns=$(aws ecs list-tasks --cluster $cluster --service-name web --query 'taskArns' --output text)
  for port in $(aws ecs describe-tasks --cluster $cluster --tasks $arns \
      --query "tasks[].containers[?name=='web'].networkBindings[0].hostPort[]" --output text); do
    curl -sf "http://127.0.0.1:$port/index.html" || echo "(no answer on $port)"
  done | sort | uniq -c
}

aws ecs create-cluster --cluster-name $cluster --query cluster.status --output text >/dev/null
v1=$(aws ecs register-task-definition --cli-input-json "file://$here/web-v1.json" \
  --query taskDefinition.taskDefinitionArn --output text)
v2=$(aws ecs register-task-definition --cli-input-json "file://$here/web-v2.json" \
  --query taskDefinition.taskDefinitionArn --output text)
broken=$(aws ecs register-task-definition --cli-input-json "file://$here/web-broken.json" \
  --query taskDefinition.taskDefinitionArn --output text)

echo "== deploy $v1"
aws ecs create-service --cluster $cluster --service-name web --task-definition "$v1" \
  --desired-count 2 --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=ENABLED}' \
  --deployment-configuration 'deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,minimumHealthyPercent=100' \
  --query 'service.deployments[0].[id,rolloutState]' --output text
aws ecs wait services-stable --cluster $cluster --services web
out=$(serving); echo "$out"
[ "$out" = "      2 web v1" ] || fail "expected two tasks serving v1"

echo "== update to $v2"
aws ecs update-service --cluster $cluster --service web --task-definition "$v2" \
  --query 'service.deployments[].[status,taskDefinition]' --output text
aws ecs wait services-stable --cluster $cluster --services web
out=$(serving); echo "$out"
[ "$out" = "      2 web v2" ] || fail "expected two tasks serving v2"
good=$(aws ecs describe-services --cluster $cluster --services web --query 'services[0].deployments[0].id' --output text)

echo "== update to the broken $broken"
aws ecs update-service --cluster $cluster --service web --task-definition "$broken" \
  --query 'service.deployments[].[status,taskDefinition]' --output text
# The waiter succeeds once the rollback has completed.
aws ecs wait services-stable --cluster $cluster --services web
aws ecs describe-services --cluster $cluster --services web \
  --query 'services[0].events[:6].message' --output text | tr '\t' '\n'
events=$(aws ecs describe-services --cluster $cluster --services web --query 'services[0].events[].message' --output text)
grep -q "deployment failed: tasks failed to start." <<<"$events" || fail "no circuit breaker event"
grep -q "rolling back to deployment $good." <<<"$events" || fail "no rollback to $good"
td=$(aws ecs describe-services --cluster $cluster --services web --query 'services[0].taskDefinition' --output text)
[ "$td" = "$v2" ] || fail "the service runs $td, not $v2"
out=$(serving); echo "$out"
[ "$out" = "      2 web v2" ] || fail "expected two tasks serving v2 after the rollback"
aws ecs list-service-deployments --cluster $cluster --service web \
  --query 'serviceDeployments[].status' --output text

echo "== delete"
aws ecs delete-service --cluster $cluster --service web --force --query service.status --output text
aws ecs wait services-inactive --cluster $cluster --services web
aws ecs delete-cluster --cluster $cluster --query cluster.status --output text
echo "service-deploy: ok"
