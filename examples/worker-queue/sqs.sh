# SQS from a busybox shell inside a task: awsQuery form requests posted with
# wget to the emulator's endpoint, which the task is given as
# AWS_ENDPOINT_URL. Sourced by worker.sh and producer.sh (run.sh puts the
# three into the task definitions' commands).
ep=${AWS_ENDPOINT_URL:?AWS_ENDPOINT_URL is not set}
# One SQS action: prints the XML answer; fails on an error answer.
sqs() {
  wget -q -O - --header 'Content-Type: application/x-www-form-urlencoded' \
    --post-data "Version=2012-11-05&$1" "$ep/"
}
# The text of the element <$1> of the answer on stdin.
tag() { sed -n "s:.*<$1>\([^<]*\)</$1>.*:\1:p"; }
# $1, form-encoded.
enc() { printf '%s' "$1" | sed 's/%/%25/g; s/+/%2B/g; s:/:%2F:g; s/=/%3D/g; s/ /%20/g; s/&/%26/g; s/:/%3A/g'; }
queue_url() { sqs "Action=GetQueueUrl&QueueName=$(enc "$1")" | tag QueueUrl; }
