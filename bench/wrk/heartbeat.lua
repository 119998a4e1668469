-- Heartbeats for random cloudlets cl-0 .. cl-(CLOUDLETS-1), with changing load and free capacity.
dofile("bench/wrk/json_post.lua")
local n = tonumber(os.getenv("CLOUDLETS") or "1000")

function request()
  local id = math.random(0, n - 1)
  local body = string.format('{"load":%.2f,"free":{"cpu_millis":%d,"mem_mb":%d}}',
    math.random() * 0.6, math.random(40000000, 100000000), math.random(40000000, 100000000))
  return wrk.format(nil, "/v1/cloudlets/cl-" .. id .. "/heartbeat", nil, body)
end
