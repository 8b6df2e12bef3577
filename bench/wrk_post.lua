-- wrk script for the Gradserve benchmarks: POSTs the file named by WRK_BODY (GET when
-- unset), stops each thread after WRK_MAX requests, and prints one JSON line of results.
local body_file = os.getenv("WRK_BODY")
local max_requests = tonumber(os.getenv("WRK_MAX") or "1000000")
local threads = {}

if body_file then
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

function setup(thread)
  table.insert(threads, thread)
end

local done_count = 0
non_2xx = 0  -- global: done() reads it from each thread with thread:get

function response(status, headers, body)
  done_count = done_count + 1
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  end
  if done_count >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local non2xx = 0
  for _, t in ipairs(threads) do
    non2xx = non2xx + (t:get("non_2xx") or 0)
  end
  -- rps counts 2xx answers only: a fast 429 is not throughput
  local ok = summary.requests - e.status
  io.write(string.format(
    '{"requests": %d, "seconds": %.6f, "rps": %.3f, "p50": %.9f, "p99": %.9f, ' ..
    '"errors": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, ok / (summary.duration / 1e6),
    latency:percentile(50) / 1e6, latency:percentile(99) / 1e6,
    e.status + e.connect + e.read + e.write + e.timeout, non2xx,
    e.connect + e.read + e.write + e.timeout))
end
