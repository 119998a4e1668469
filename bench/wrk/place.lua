-- POST /v1/placements for a small app from random positions in the metro area; half the fleet caches
-- its base VM (see register.lua), and capacity is ample so that every request reserves.
dofile("bench/wrk/json_post.lua")
local digest = "sha256:" .. string.rep("a", 64)

function request()
  local body = string.format('{"app":{"name":"ar","base_vm":"%s","base_vm_mb":8000,"overlay_mb":200,' ..
    '"cpu_millis":1,"mem_mb":1,"service_ms":10,"req_rate_hz":10,"session_s":600,"max_rtt_ms":20},' ..
    '"client":{"id":"phone-%d","geo":{"lat":%.4f,"lon":%.4f}},"k":3}',
    digest, math.random(1, 1000), 40.3 + math.random() * 0.3, -80.1 + math.random() * 0.3)
  return wrk.format(nil, "/v1/placements", nil, body)
end
