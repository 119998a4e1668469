-- GET the path in BENCH_PATH with the operator token.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH") or "/v1/cloudlets"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
