-- Registrations (PUT) of cloudlets cl-0 .. cl-(CLOUDLETS-1), round robin; after the first pass
-- they are replacements, which take the same durable path (a committed write before the answer).
local n = tonumber(os.getenv("CLOUDLETS") or "1000")
local token = os.getenv("TOKEN") or ""
wrk.method = "PUT"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
local body = '{"endpoint":"http://10.0.0.1:8471","geo":{"lat":40.44,"lon":-79.94},' ..
  '"capacity":{"cpu_millis":16000,"mem_mb":65536},"isolation":["vm","container"],"wan_mbps":1000,' ..
  '"base_vms":[{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size_mb":4096}]}'

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
  return wrk.format(nil, "/v1/cloudlets/cl-" .. id, nil, body)
end
