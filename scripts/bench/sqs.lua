-- wrk script for SQS over awsJson1.0, for `make bench`'s sqs section.
--   BENCH_QUEUE  the queue URL
--   BENCH_MODE   send: SendMessage of a 100-byte body on every request;
--                receive: ReceiveMessage (up to 10 messages, no wait) and a
--                DeleteMessage for each message received, the deletes sent
--                first whenever a receipt handle is waiting.
-- The Authorization header is a SigV4 credential scope with a dummy
-- signature: neither server checks signatures; moto's server picks the
-- service (sqs) from it.
local mode = os.getenv("BENCH_MODE")
local queue = os.getenv("BENCH_QUEUE")
wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["Authorization"] =
  "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/sqs/aws4_request, " ..
  "SignedHeaders=content-type;host;x-amz-target, Signature=00"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

-- A request of `op`: wrk.format takes either its own headers or wrk's, so
-- wrk's are copied in.
local function call(op, body)
  local h = { ["X-Amz-Target"] = "AmazonSQS." .. op }
  for k, v in pairs(wrk.headers) do
    h[k] = v
  end
  return wrk.format(nil, nil, h, body)
end

-- Per thread (each thread has its own Lua state): receipt handles waiting
-- for their DeleteMessage, and how many deletes and handles there were.
local pending = {}
deletes = 0
handles = 0
local send_req, recv_req

function init(args)
  send_req = call("SendMessage",
    '{"QueueUrl":"' .. queue .. '","MessageBody":"' .. string.rep("x", 100) .. '"}')
  recv_req = call("ReceiveMessage",
    '{"QueueUrl":"' .. queue .. '","MaxNumberOfMessages":10,"WaitTimeSeconds":0}')
end

function request()
  if mode == "send" then
    return send_req
  end
  local h = table.remove(pending)
  if h then
    deletes = deletes + 1
    return call("DeleteMessage", '{"QueueUrl":"' .. queue .. '","ReceiptHandle":"' .. h .. '"}')
  end
  return recv_req
end

-- Defined for receiving only: wrk reads bodies only when it is.
if mode ~= "send" then
  function response(status, headers, body)
    if status == 200 then
      for h in string.gmatch(body, '"ReceiptHandle"%s*:%s*"([^"]+)"') do
        table.insert(pending, h)
        handles = handles + 1
      end
    end
  end
end

-- One machine-readable line for scripts/bench/bench.py (latencies in µs).
function done(summary, latency, requests)
  local d, h = 0, 0
  for _, t in ipairs(threads) do
    d = d + (t:get("deletes") or 0)
    h = h + (t:get("handles") or 0)
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH_RESULT p50_us=%d p99_us=%d rps=%.1f requests=%d non2xx=%d socket_errors=%d deletes=%d handles=%d secs=%.3f\n",
    latency:percentile(50), latency:percentile(99), summary.requests / secs,
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    d, h, secs))
end
