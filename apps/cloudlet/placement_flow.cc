#include "placement_flow.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>

#include "cloudlet/common/geo.h"

namespace cloudlet::cli {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

// --rtt cl-a=4.2,cl-b=7 as the request's client.rtt_ms.
Status AddRtts(const std::string& rtt, json& client) {
  std::stringstream pairs(rtt);
  for (std::string pair; std::getline(pairs, pair, ',');) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    char* end = nullptr;
    const double ms = eq == std::string::npos ? 0 : std::strtod(pair.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || end == pair.c_str() + eq + 1 || *end != '\0') {
      return Status::InvalidArgument("--rtt: expected ID=MS[,ID=MS...], got '" + pair + "'");
    }
    client["rtt_ms"][pair.substr(0, eq)] = ms;
  }
  return Status::Ok();
}

}  // namespace

Status AddClientFlags(const ClientFlags& f, json& client) {
  if (!f.client_id.empty()) client["id"] = f.client_id;
  if (!f.geo.empty()) {
    auto at = common::ParseGeoPoint(f.geo, "--geo");
    if (!at.ok()) return Status::InvalidArgument("--geo: expected LAT,LON");
    client["geo"] = {{"lat", at->lat}, {"lon", at->lon}};
  }
  return AddRtts(f.rtt, client);
}

Result<json> WaitUntilRunning(RegistryClient& client, const std::string& id, common::Millis timeout, bool quiet) {
  auto confirmed = client.Call("POST", "/v1/placements/" + id + "/confirm");
  if (!confirmed.ok()) return confirmed.status();
  json p = *confirmed;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Each wait ends well within the client's own request timeout.
  const auto wait_ms = std::max<int64_t>(1000, client.timeout().count() / 2);
  std::string last;
  while (true) {
    const std::string state = ValueOr<std::string>(p, "state", "");
    if (state != last && !quiet) std::cerr << "placement " << id << ": " << state << "\n";
    last = state;
    if (state == "running") return p;
    if (state == "failed") {
      return Status::FailedPrecondition("placement " + id + " failed: " + ValueOr<std::string>(p, "reason", "no reason given"));
    }
    if (state == "released" || state == "expired") return Status::FailedPrecondition("placement " + id + " is " + state);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("placement " + id + " is still " + state + " after --wait-timeout");
    }
    const auto index = ValueOr<uint64_t>(p, "modify_index", 0);
    auto next = client.Call("GET", "/v1/placements/" + id + "?index=" + std::to_string(index) + "&wait=" +
                                       std::to_string(wait_ms) + "ms");
    if (!next.ok()) return next.status();
    p = *next;
  }
}

}  // namespace cloudlet::cli
