-- POST /v1/usage: batches of 100 records with unique event ids (per wrk thread and request), each
-- acknowledged only once durable. TENANT names the tenant (created by the runner).
dofile("bench/wrk/json_post.lua")
local tenant = os.getenv("TENANT") or "bench"
local n = 0

function request()
  n = n + 1
  local parts = {}
  for i = 1, 100 do
    parts[i] = string.format('{"event_id":"w%d-%d-%d","tenant":"%s","cloudlet":"cl-%d",' ..
      '"start":"2026-11-10T10:00:00Z","end":"2026-11-10T10:05:00Z","quantities":{"cpu_core_s":300}}',
      seed, n, i, tenant, i % 100)
  end
  return wrk.format(nil, "/v1/usage", nil, '{"records":[' .. table.concat(parts, ",") .. ']}')
end
