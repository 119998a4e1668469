// Every request body cloudletd takes, through the real router, handlers and SQLite stores: the
// first byte picks the route, the rest is the body. No input may get a 5xx.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/in_process_cloudletd.h"

namespace {

struct Route {
  const char* method;
  std::string path;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using cloudlet::fuzz::InProcessCloudletd;
  if (size < 1) return 0;
  InProcessCloudletd& d = InProcessCloudletd::Get();
  const std::string p = "/v1/placements/" + d.placement_id();
  static const std::vector<Route> kRoutes = {
      {"PUT", "/v1/cloudlets/cl-a"},          {"PUT", "/v1/cloudlets/cl-new"},
      {"POST", "/v1/cloudlets/cl-a/heartbeat"}, {"PUT", "/v1/cloudlets/cl-a/workloads"},
      {"POST", "/v1/placements"},             {"POST", p + "/location"},
      {"POST", p + "/status"},                {"POST", "/v1/rtt"},
      {"POST", "/v1/tenants"},                {"PUT", "/v1/tenants/acme/quotas"},
      {"POST", "/v1/tokens"},                 {"POST", "/v1/usage"},
      {"PUT", "/v1/prices"},
  };
  const Route& route = kRoutes[data[0] % kRoutes.size()];
  cloudlet::api::HttpRequest request{.method = route.method, .path = route.path, .query = {}, .headers = {},
                                     .body = std::string(reinterpret_cast<const char*>(data) + 1, size - 1),
                                     .remote_address = "127.0.0.1"};
  const auto answer = d.Call(request);
  cloudlet::fuzz::ExpectNoServerError(request, answer);
  return 0;
}
