# The worker (a service's task): long-polls the jobs queue, one message at
# a time; a job is done by sending "done <job>" to the results queue, then
# deleting it. A "poison" message makes it fail: it is left undeleted, comes
# back after the visibility timeout, and after maxReceiveCount receives SQS
# moves it to the dead-letter queue.
jobs=$(queue_url "$JOBS_QUEUE")
results=$(queue_url "$RESULTS_QUEUE")
[ -n "$jobs" ] && [ -n "$results" ] || { echo "worker: queues not found"; exit 1; }
echo "worker: polling $jobs"
while :; do
  out=$(sqs "Action=ReceiveMessage&QueueUrl=$(enc "$jobs")&WaitTimeSeconds=5&MaxNumberOfMessages=1") \
    || { echo "worker: ReceiveMessage failed"; sleep 1; continue; }
  body=$(echo "$out" | tag Body)
  [ -n "$body" ] || continue
  handle=$(echo "$out" | tag ReceiptHandle)
  case "$body" in
    poison*) echo "worker: cannot process $body; it will be received again"; continue ;;
  esac
  sqs "Action=SendMessage&QueueUrl=$(enc "$results")&MessageBody=$(enc "done $body")" >/dev/null \
    && sqs "Action=DeleteMessage&QueueUrl=$(enc "$jobs")&ReceiptHandle=$(enc "$handle")" >/dev/null \
    && echo "worker: processed $body"
done
