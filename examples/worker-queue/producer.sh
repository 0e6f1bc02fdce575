# The producer (a one-off task): five jobs and one message the worker
# cannot process. Exits 1 if a send fails.
jobs=$(queue_url "$JOBS_QUEUE")
[ -n "$jobs" ] || { echo "producer: no queue $JOBS_QUEUE"; exit 1; }
for body in job-1 job-2 job-3 job-4 job-5 poison-6; do
  id=$(sqs "Action=SendMessage&QueueUrl=$(enc "$jobs")&MessageBody=$(enc "$body")" | tag MessageId)
  [ -n "$id" ] || { echo "producer: SendMessage of $body failed"; exit 1; }
  echo "producer: sent $body as $id"
done
