-- Heartbeats for random cloudlets cl-0 .. cl-(CLOUDLETS-1), with changing load and free capacity.
local n = tonumber(os.getenv("CLOUDLETS") or "1000")
local token = os.getenv("TOKEN") or ""
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed or 1)
end

function request()
  local id = math.random(0, n - 1)
  local body = string.format('{"load":%.2f,"free":{"cpu_millis":%d,"mem_mb":%d}}',
    math.random() * 0.6, math.random(40000000, 100000000), math.random(40000000, 100000000))
  return wrk.format(nil, "/v1/cloudlets/cl-" .. id .. "/heartbeat", nil, body)
end
