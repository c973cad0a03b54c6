-- wrk script: POST the image named by $BENCH_IMAGE as image/png, and average
-- the server's Server-Timing parts (queue, model, overlay; ms) over all answers.
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/png"
local f = assert(io.open(os.getenv("BENCH_IMAGE"), "rb"))
wrk.body = f:read("*a")
f:close()

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  n, queue, model, overlay = 0, 0, 0, 0
end

local function part(t, name)
  return tonumber(t:match(name .. ";dur=([%d.]+)") or "0")
end

function response(status, headers, body)
  local t = headers["Server-Timing"]
  if t then
    n = n + 1
    queue = queue + part(t, "queue")
    model = model + part(t, "model")
    overlay = overlay + part(t, "overlay")
  end
end

function done(summary, latency, requests)
  local N, Q, M, O = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    N = N + t:get("n")
    Q = Q + t:get("queue")
    M = M + t:get("model")
    O = O + t:get("overlay")
  end
  if N > 0 then
    io.write(string.format("SERVER_TIMING %.2f %.2f %.2f %.2f\n", latency.mean / 1000,
                           Q / N, M / N, O / N))
  end
end
