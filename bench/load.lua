-- wrk script for every benchmark target. Set by environment variables:
--   BENCH_TOKENS    file of access tokens, one a line: each request carries the next one
--   BENCH_DELIVERIES file of "<Stripe-Signature>\t<body>" lines: each request posts the next one
--   BENCH_BODY      a fixed JSON body to POST
-- Run it with one wrk thread (-t1): the index is per thread, so deliveries stay distinct.
-- At exit it prints one JSON line: requests, errors and latency percentiles (microseconds).

local tokens, deliveries = {}, {}
local body = os.getenv("BENCH_BODY")
local next_index = 0

local function read_lines(name)
  local lines = {}
  if name and name ~= "" then
    for line in io.lines(name) do
      if line ~= "" then lines[#lines + 1] = line end
    end
  end
  return lines
end

function init(args)
  tokens = read_lines(os.getenv("BENCH_TOKENS"))
  deliveries = read_lines(os.getenv("BENCH_DELIVERIES"))
end

function request()
  next_index = next_index + 1
  local headers = {}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(next_index - 1) % #tokens + 1]
  end
  if #deliveries > 0 then
    local line = deliveries[(next_index - 1) % #deliveries + 1]
    local tab = line:find("\t", 1, true)
    headers["Stripe-Signature"] = line:sub(1, tab - 1)
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, line:sub(tab + 1))
  end
  if body and body ~= "" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, body)
  end
  return wrk.format("GET", nil, headers, nil)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx_or_3xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max))
end
