-- wrk script for every benchmark target. Set by environment variables:
--   BENCH_TOKENS     file of access tokens, one a line: each request carries the next one
--   BENCH_DELIVERIES file of "<subscriber>\t<Stripe-Signature>\t<body>" lines
--                    (bench/streams.py): each request posts the next one
--   BENCH_BODY       a fixed JSON body to POST
--   BENCH_THREADS    wrk's -t. Each thread takes every BENCH_THREADS-th token, and the deliveries
--                    of every BENCH_THREADS-th subscriber: no two threads send the same delivery,
--                    and a subscription's events go out in the file's order from one thread. (Split
--                    by line, a subscription whose redeliveries put its events on both threads got
--                    stale events from the thread that started later: wrk starts them in turn.)
-- At exit it prints one JSON line: requests, errors, latency percentiles (microseconds), and
-- whether a thread ran out of deliveries (its later requests were repeats, cheap duplicates).

local threads = {}
local tokens, deliveries = {}, {}
local body = os.getenv("BENCH_BODY")
next_index = 0
delivery_count = 0

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

-- The lines of file `name` that are this thread's: those whose owner(line, index) falls to it.
local function read_lines(name, owner)
  local lines, index = {}, 0
  local step = tonumber(os.getenv("BENCH_THREADS") or "1")
  if name and name ~= "" then
    for line in io.lines(name) do
      if line ~= "" then
        if owner(line, index) % step == thread_number then lines[#lines + 1] = line end
        index = index + 1
      end
    end
  end
  return lines
end

local function by_line(_, index) return index end
local function by_subscriber(line) return tonumber(line:match("^(%d+)\t")) end

function init(args)
  thread_number = thread_number or 0
  tokens = read_lines(os.getenv("BENCH_TOKENS"), by_line)
  for i, line in ipairs(read_lines(os.getenv("BENCH_DELIVERIES"), by_subscriber)) do
    local signature, payload = line:match("^%d+\t([^\t]*)\t(.*)$")
    deliveries[i] = {signature, payload}
  end
  delivery_count = #deliveries
end

function request()
  next_index = next_index + 1
  local headers = {}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(next_index - 1) % #tokens + 1]
  end
  if #deliveries > 0 then
    local delivery = deliveries[(next_index - 1) % #deliveries + 1]
    headers["Stripe-Signature"] = delivery[1]
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, delivery[2])
  end
  if body and body ~= "" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", nil, headers, body)
  end
  return wrk.format("GET", nil, headers, nil)
end

function done(summary, latency, requests)
  local ran_out = false
  for _, thread in ipairs(threads) do
    local count = thread:get("delivery_count")
    if count > 0 and thread:get("next_index") > count then ran_out = true end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "non_2xx_or_3xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d, ' ..
    '"ran_out": %s}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max, tostring(ran_out)))
end
