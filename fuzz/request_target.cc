// A request target as a client sends it ("/v1/cloudlets?near=40.4,-79.9&limit=5"): split and
// percent-decoded by the one reader every listener uses, then, when it parses, routed as a GET and
// a DELETE through cloudletd's real router (path parameters, query parameters). No input may crash
// the reader or get a 5xx.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cloudlet/api/request_target.h"
#include "support/in_process_cloudletd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto target = cloudlet::api::ParseRequestTarget(raw);
  if (!target.ok()) return 0;
  if (target->path.empty() || target->path.front() != '/' || target->path.find('\0') != std::string::npos) {
    std::fprintf(stderr, "a parsed path must start with / and hold no NUL\n");
    std::abort();
  }
  // A blocking query would hold the answer for as long as it asks (index= alone waits for a change
  // for minutes); the reader is what is fuzzed here.
  target->query.erase("wait");
  target->query.erase("index");
  auto& d = cloudlet::fuzz::InProcessCloudletd::Get();
  for (const char* method : {"GET", "DELETE"}) {
    // Leave the fixtures in place: deleting them would only narrow what later inputs reach.
    if (std::string_view(method) == "DELETE" && target->path.find("cl-a") != std::string::npos) continue;
    cloudlet::api::HttpRequest request{.method = method, .path = target->path, .query = target->query,
                                       .headers = {}, .body = {}, .remote_address = "127.0.0.1"};
    cloudlet::fuzz::ExpectNoServerError(request, d.Call(request));
  }
  return 0;
}
