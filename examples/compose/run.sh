#!/usr/bin/env bash
# docker/compose.yaml checked with Debian's docker-compose (or the compose
# plugin): the emulator service from the image `make image` built comes up
# healthy, runs a task whose env file comes from the embedded S3, and after
# a reset and `down -v` nothing of it is left on the engine. The MinIO
# variant (compose.minio.yaml) needs images from a registry and is not run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
if docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif command -v docker-compose >/dev/null; then compose=(docker-compose)
else echo "compose: neither docker compose nor docker-compose (apt-get install docker-compose)" >&2; exit 1; fi
docker image inspect fargate-local:dev >/dev/null 2>&1 \
  || { echo "compose: the image fargate-local:dev is missing: run make image" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); s3_port=$(free_port)
export FARGATE_LOCAL_LISTEN=127.0.0.1:$port FARGATE_LOCAL_S3_LISTEN=127.0.0.1:$s3_port
project="fl-compose-$$"
dc() { "${compose[@]}" -p "$project" -f "$root/docker/compose.yaml" "$@"; }
ENDPOINT="http://127.0.0.1:$port"
instance=""
finish() {
  local rc=$?
  curl -s -X POST "$ENDPOINT/_fargate-local/reset" >/dev/null 2>&1 || true
  dc down -v >/dev/null 2>&1 || true
  if [ -n "$instance" ]; then
    left=$(docker ps -aq --filter "label=fargate-local.instance=$instance"; docker network ls -q --filter "label=fargate-local.instance=$instance")
    if [ -n "$left" ]; then echo "compose: objects of $instance left: $left" >&2; rc=1; fi
  fi
  [ -z "$(docker volume ls -q --filter "name=${project}_")" ] || { echo "compose: the project's volume is left" >&2; rc=1; }
  exit $rc
}
trap finish EXIT
fail() { echo "compose: $*" >&2; dc logs --no-color emulator | tail -30 >&2; exit 1; }

dc up -d
for _ in $(seq 1 200); do
  curl -sf "$ENDPOINT/_fargate-local/health" | grep -q '"docker":"connected"' && break
  sleep 0.1
done
curl -sf "$ENDPOINT/_fargate-local/health" | grep -q '"docker":"connected"' || fail "not healthy with Docker connected"
instance=$(dc logs --no-color emulator | grep -o 'instance=[0-9a-f]*' | head -1 | cut -d= -f2)
[ -n "$instance" ] || fail "no instance id in the log"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
aws() { command aws --endpoint-url "$ENDPOINT" "$@"; }
printf 'GREETING=from compose\n' >"${TMPDIR:-/tmp}/$project.env"
aws s3 mb s3://app-config >/dev/null
aws --endpoint-url "http://127.0.0.1:$s3_port" s3 cp "${TMPDIR:-/tmp}/$project.env" s3://app-config/web/app.env >/dev/null
rm -f "${TMPDIR:-/tmp}/$project.env"
aws ecs create-cluster --cluster-name compose >/dev/null
aws ecs register-task-definition --family greet --network-mode awsvpc --requires-compatibilities FARGATE \
  --cpu 256 --memory 512 --execution-role-arn arn:aws:iam::000000000000:role/ecsTaskExecutionRole \
  --container-definitions '[{"name":"app","image":"fargate-local-test/busybox:latest","command":["sh","-c","test \"$GREETING\" = \"from compose\""],"environmentFiles":[{"type":"s3","value":"arn:aws:s3:::app-config/web/app.env"}]}]' >/dev/null
arn=$(aws ecs run-task --cluster compose --task-definition greet --launch-type FARGATE \
  --network-configuration 'awsvpcConfiguration={subnets=[subnet-1]}' --query 'tasks[0].taskArn' --output text)
aws ecs wait tasks-stopped --cluster compose --tasks "$arn"
code=$(aws ecs describe-tasks --cluster compose --tasks "$arn" --query 'tasks[0].containers[0].exitCode' --output text)
[ "$code" = "0" ] || fail "the task did not get GREETING from the env file (exit $code)"
echo "compose: the emulator service ran a task with its env file from the embedded S3"
