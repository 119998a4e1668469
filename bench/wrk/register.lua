-- Registrations (PUT) of cloudlets cl-0 .. cl-(CLOUDLETS-1), round robin; after the first pass
-- they are replacements, which take the same durable path (a committed write before the answer).
local n = tonumber(os.getenv("CLOUDLETS") or "1000")
local token = os.getenv("TOKEN") or ""
wrk.method = "PUT"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
-- Spread over a 30 x 30 km grid; every other one caches the placement benchmark's base VM; capacity
-- is ample so that the placement benchmark never runs out.
local function body(id)
  local vms = id % 2 == 0 and
    '[{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size_mb":4096}]' or '[]'
  return string.format('{"endpoint":"http://10.0.0.1:8471","geo":{"lat":%.4f,"lon":%.4f},' ..
    '"capacity":{"cpu_millis":100000000,"mem_mb":100000000},"isolation":["vm","container"],' ..
    '"wan_mbps":1000,"base_vms":%s}', 40.3 + (id % 100) * 0.003, -80.1 + (math.floor(id / 100) % 100) * 0.003, vms)
end

local threads_started = 0
function setup(thread)
  thread:set("first", threads_started)
  threads_started = threads_started + 1
end

function init(args)
  next_id = first
  stride = tonumber(os.getenv("WRK_THREADS") or "2")
end

function request()
  local id = next_id % n
  next_id = next_id + stride
  return wrk.format(nil, "/v1/cloudlets/cl-" .. id, nil, body(id))
end
