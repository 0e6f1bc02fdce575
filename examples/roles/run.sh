#!/usr/bin/env bash
# "Task role or execution role?": the classic mistake with the AWS CLI under
# `serve --iam enforce`. The task's env file in S3 is read by the ECS agent
# with the *execution* role, but the permission is put on the *task* role:
# the task fails to start with Fargate's ResourceInitializationError. Moved
# to the execution role, the task runs. Then `fargate-local iam policy`
# prints what the task's roles were used for, and the execution role's
# generated policy, put in place of the hand-written one, is enough.
#
# Against an emulator you started yourself with `--iam enforce`:
#   ENDPOINT=http://127.0.0.1:4566 examples/roles/run.sh
# Without one, a throwaway emulator is started for the run (with
# FARGATE_LOCAL_IAM=enforce).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ENDPOINT:-}" ]; then
  FARGATE_LOCAL_IAM=enforce exec "$here/../../scripts/with-emulator.sh" "$0" "$@"
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
BIN=${FARGATE_LOCAL_BIN:-$here/../../target/debug/fargate-local}
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
fail() { echo "roles: $*" >&2; exit 1; }
cluster=roles-demo
app=roles-demo-app exe=roles-demo-execution

tmp=$(mktemp -d)
done=""
on_exit() {
  if [ -z "$done" ]; then
    { aws s3 rm s3://roles-demo-config --recursive; aws s3 rb s3://roles-demo-config
      for r in $app $exe; do
        for p in $(aws iam list-role-policies --role-name $r --query PolicyNames --output text); do
          aws iam delete-role-policy --role-name $r --policy-name "$p"
        done
        aws iam delete-role --role-name $r
      done
    } >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== roles, the env file, the task definition"
for r in $app $exe; do
  aws iam create-role --role-name $r --assume-role-policy-document "file://$here/trust.json" \
    --query Role.Arn --output text
done
aws s3 mb s3://roles-demo-config
aws s3 cp "$here/web.env" s3://roles-demo-config/web.env
aws ecs create-cluster --cluster-name $cluster --query cluster.status --output text >/dev/null
aws ecs register-task-definition --cli-input-json "file://$here/taskdef.json" \
  --query taskDefinition.taskDefinitionArn --output text
run() {
  local arn
  arn=$(aws ecs run-task --cluster $cluster --task-definition roles-demo --launch-type FARGATE \
    --network-configuration 'awsvpcConfiguration={subnets=[subnet-1],assignPublicIp=ENABLED}' \
    --query 'tasks[0].taskArn' --output text)
  aws ecs wait tasks-stopped --cluster $cluster --tasks "$arn"
  echo "$arn"
}
stopped() {
  aws ecs describe-tasks --cluster $cluster --tasks "$1" \
    --query 'tasks[0].[stopCode,containers[0].exitCode,stoppedReason]' --output text
}

echo "== the mistake: the env file's permission on the task role"
aws iam put-role-policy --role-name $app --policy-name env-file \
  --policy-document "file://$here/env-file-read.json"
arn=$(run)
read -r code exit_code reason < <(stopped "$arn")
echo "$code: $reason"
[ "$code" = "TaskFailedToStart" ] || fail "stopCode $code (is the emulator running with --iam enforce?)"
[ "$reason" = "ResourceInitializationError: failed to download env files: service call has been retried 1 time(s): operation error S3: HeadObject, https response error StatusCode: 403, api error Forbidden: Forbidden." ] \
  || fail "stoppedReason: $reason"

echo "== fixed: the permission on the execution role"
aws iam delete-role-policy --role-name $app --policy-name env-file
aws iam put-role-policy --role-name $exe --policy-name env-file \
  --policy-document "file://$here/env-file-read.json"
arn=$(run)
read -r code exit_code reason < <(stopped "$arn")
[ "$exit_code" = "0" ] || fail "the container did not see GREETING=hello (exit code $exit_code, $code $reason)"
echo "the task ran and read its env file (exit code 0)"

echo "== what the task needed: fargate-local iam policy --task ${arn##*/}"
"$BIN" iam policy --endpoint-url "$ENDPOINT" --task "$arn"
"$BIN" iam policy --endpoint-url "$ENDPOINT" --task "$arn" --role execution >"$tmp/execution.json"
grep -q '"s3:GetObject"' "$tmp/execution.json" || fail "no s3:GetObject in $(cat "$tmp/execution.json")"
grep -q '"arn:aws:s3:::roles-demo-config/web.env"' "$tmp/execution.json" || fail "not the object's ARN"

echo "== the generated execution role policy instead of the hand-written one"
aws iam delete-role-policy --role-name $exe --policy-name env-file
aws iam put-role-policy --role-name $exe --policy-name generated \
  --policy-document "file://$tmp/execution.json"
arn=$(run)
read -r code exit_code reason < <(stopped "$arn")
[ "$exit_code" = "0" ] || fail "with the generated policy: $code $reason"
echo "the generated policy is enough (exit code 0)"

aws iam delete-role-policy --role-name $exe --policy-name generated
for r in $app $exe; do aws iam delete-role --role-name $r; done
aws s3 rm s3://roles-demo-config --recursive >/dev/null
aws s3 rb s3://roles-demo-config >/dev/null
done=1
echo "roles: ok"
