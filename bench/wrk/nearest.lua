-- GET /v1/cloudlets?near=...&limit=10 from random positions over the area register.lua fills.
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")

function request()
  local path = string.format("/v1/cloudlets?near=%.4f,%.4f&limit=10", 40.3 + math.random() * 0.3,
    -80.1 + math.random() * 0.3)
  return wrk.format(nil, path)
end
