#!/usr/bin/env bash
# The three ways ECS hands configuration to a container, side by side with
# the AWS CLI: `environment` in the task definition, `secrets` from Secrets
# Manager and SSM Parameter Store, and `environmentFiles` in an S3 bucket.
# The container checks its own environment and exits 0 only if every value
# (and every precedence rule) is right. Then a task whose secret is missing
# fails to start, with Fargate's reason.
#
# Against an emulator you started yourself (`make run`):
#   ENDPOINT=http://127.0.0.1:4566 examples/config-sources/run.sh
# Without one, a throwaway emulator is started for the run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "config-sources: $*" >&2; exit 1; }

# C: env files in S3 (the emulator's own S3, on the same endpoint).
aws s3 mb s3://app-config
aws s3 cp "$here/app.env" s3://app-config/web/app.env
aws s3 cp "$here/defaults.env" s3://app-config/web/defaults.env
# B: a secret and a SecureString parameter.
aws secretsmanager create-secret --name prod/db --secret-string '{"password":"s3cr3t"}' \
  --query ARN --output text
aws ssm put-parameter --name /web/api-key --type SecureString --value k --query Version --output text

aws ecs create-cluster --cluster-name config --query cluster.status --output text | grep -qx ACTIVE \
  || fail "cluster not ACTIVE"
aws ecs register-task-definition --cli-input-json "file://$here/taskdef.json" \
  --query taskDefinition.taskDefinitionArn --output text
run() {
  aws ecs run-task --cluster config --task-definition configured --launch-type FARGATE \
    --network-configuration 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=ENABLED}' \
    --query 'tasks[0].taskArn' --output text
}
arn=$(run)
echo "task: $arn"
aws ecs wait tasks-stopped --cluster config --tasks "$arn"
code=$(aws ecs describe-tasks --cluster config --tasks "$arn" \
  --query "tasks[0].containers[?name=='app'].exitCode | [0]" --output text)
[ "$code" = "0" ] || fail "the container found a wrong value in its environment (exit code $code)"
echo "environment > secrets > first env file > later env file: all as expected"

# The resolved values are not in DescribeTasks.
if aws ecs describe-tasks --cluster config --tasks "$arn" --output json | grep -q s3cr3t; then
  fail "a secret value appears in describe-tasks"
fi

# A missing secret: the task never starts.
aws secretsmanager delete-secret --secret-id prod/db --force-delete-without-recovery --query Name --output text
arn=$(run)
aws ecs wait tasks-stopped --cluster config --tasks "$arn"
read -r code reason < <(aws ecs describe-tasks --cluster config --tasks "$arn" \
  --query 'tasks[0].[stopCode,stoppedReason]' --output text)
echo "without the secret: $code $reason"
[ "$code" = "TaskFailedToStart" ] || fail "stopCode $code"
case "$reason" in
  "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm:"*"ResourceNotFoundException"*) ;;
  *) fail "stoppedReason: $reason" ;;
esac
aws s3 rm s3://app-config --recursive
echo "config-sources: ok"
