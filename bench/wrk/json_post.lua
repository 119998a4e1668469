-- Shared by the scripts that POST JSON: the operator token, the content type, and a random seed per
-- wrk thread (each thread runs its own Lua state). Scripts load it with dofile from the repo root.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed or 1)
end
