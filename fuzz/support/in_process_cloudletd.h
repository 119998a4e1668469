// cloudletd's whole route set in-process, for fuzz targets: real SQLite stores in a temporary
// directory (removed at exit), a manual clock, and no listener; Call() goes through the router as
// the HTTP layer would. Made once per process; state carries over between inputs (a fuzzer finds
// more when earlier inputs left cloudlets, tenants and placements behind).
#pragma once

#include <string>

#include "cloudlet/api/http.h"

namespace cloudlet::fuzz {

inline constexpr char kOperatorToken[] = "fuzz-operator-token-0123456789abcdef";

class InProcessCloudletd {
 public:
  // The one instance: cloudlet cl-a registered, tenant acme created, one placement reserved.
  static InProcessCloudletd& Get();

  // One request as the operator; the answer, or 599 when none came within 10 s.
  api::HttpResponse Call(api::HttpRequest request);
  const std::string& placement_id() const { return placement_id_; }

 private:
  InProcessCloudletd();
  struct Parts;
  Parts* parts_;  // never freed: libFuzzer exits with the process
  std::string placement_id_;
};

// Aborts, printing the request and answer, when the server answered 5xx: on input alone (no fault
// injected), a 5xx is a bug.
void ExpectNoServerError(const api::HttpRequest& request, const api::HttpResponse& answer);

}  // namespace cloudlet::fuzz
