-- wrk script for one awsJson1.1 call, sent unchanged on every request.
--   BENCH_TARGET  the X-Amz-Target value (AmazonEC2ContainerServiceV20141113.<Op>)
--   BENCH_BODY    the JSON request body
-- The Authorization header is a SigV4 credential scope with a dummy
-- signature: neither server checks signatures, the emulator reads the region
-- from it and moto's server picks the service (ecs) from it.
wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = os.getenv("BENCH_TARGET")
-- BENCH_ACCESS_KEY (optional) signs as that key: a task's role credentials.
wrk.headers["Authorization"] =
  "AWS4-HMAC-SHA256 Credential=" .. (os.getenv("BENCH_ACCESS_KEY") or "test") ..
  "/20261128/us-east-1/ecs/aws4_request, " ..
  "SignedHeaders=content-type;host;x-amz-target, Signature=00"
wrk.body = os.getenv("BENCH_BODY")

-- One machine-readable line for scripts/bench/bench.py (latencies in µs).
function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH_RESULT p50_us=%d p99_us=%d rps=%.1f requests=%d non2xx=%d socket_errors=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests / secs,
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
