-- wrk script for tools/bench.py: the same request over and over, every answer checked.
--
--   wrk -t1 -c16 -d8s --latency -s benchmarks/wrk/request.lua URL -- METHOD AUTHORIZATION BODY EXPECT
--
--   METHOD         GET or POST
--   AUTHORIZATION  the whole Authorization header value ("Basic ..."), or "" for none
--   BODY           an application/x-www-form-urlencoded body, or "" for none
--   EXPECT         a substring every 2xx body must contain, or "" for no check
--
-- tools/bench.py builds the header (RFC 6749 §2.3.1: client id and secret form-encoded, then
-- base64), so no string is built per request. wrk itself counts only statuses >= 400 as
-- errors; here every answer outside 200..299 is a failure, and so is a 2xx body without
-- EXPECT. done() prints one line "BENCHRESULT {json}" (latencies in microseconds).

local expect = ""
local threads = {}

-- Per-thread counters: each wrk thread has its own Lua state, and done() can read only its
-- globals (thread:get). A status seen for the first time gets a global "n<status>" and is
-- added to `seen`; after that a response costs two increments and a comparison.
answers = 0
bad_status = 0
bad_body = 0
seen = ""
local counter_of = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local method, authorization, body = args[1] or "GET", args[2] or "", args[3] or ""
  expect = args[4] or ""
  wrk.method = method
  wrk.headers["Accept"] = "application/json"
  if authorization ~= "" then
    wrk.headers["Authorization"] = authorization
  end
  if body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
end

function response(status, headers, body)
  answers = answers + 1
  local counter = counter_of[status]
  if counter == nil then
    counter = "n" .. status
    counter_of[status] = counter
    _G[counter] = 0
    seen = seen .. status .. ","
  end
  _G[counter] = _G[counter] + 1
  if status < 200 or status > 299 then
    bad_status = bad_status + 1
  elseif expect ~= "" and not string.find(body, expect, 1, true) then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local total_bad_status, total_bad_body, total_answers = 0, 0, 0
  local merged = {}
  for _, thread in ipairs(threads) do
    total_bad_status = total_bad_status + (thread:get("bad_status") or 0)
    total_bad_body = total_bad_body + (thread:get("bad_body") or 0)
    total_answers = total_answers + (thread:get("answers") or 0)
    for code in string.gmatch(thread:get("seen") or "", "(%d+),") do
      merged[code] = (merged[code] or 0) + (thread:get("n" .. code) or 0)
    end
  end
  local counts = {}
  for code, n in pairs(merged) do
    counts[#counts + 1] = string.format('"%s":%d', code, n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHRESULT {"requests":%d,"answers":%d,"duration_us":%d,"mean_us":%.1f,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"bad_status":%d,"bad_body":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"statuses":{%s}}\n',
    summary.requests, total_answers, summary.duration, latency.mean,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    total_bad_status, total_bad_body, e.connect, e.read, e.write, e.timeout,
    table.concat(counts, ",")))
end
