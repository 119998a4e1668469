// The client library's engine, in C++ (client.cc wraps it in the C ABI): one device's view of the
// cloudlets and of its placements.
//
//   auto s = Session::Create({.registries = {"http://127.0.0.1:8470"}, .token = t});
//   (*s)->SetLocation({40.44, -79.94});
//   auto p = (*s)->Place(app_json, 60s);      // find, measure, place, confirm, wait until running
//   auto q = (*s)->UpdateLocation(p->id, {40.5, -80.0}, 60s);   // may migrate (q->moved)
//   (*s)->Release(q->id, 10s);
//
// Thread-safe: the session's state is under a mutex that no network call holds; each call makes its
// own HTTP connections. The transport and the LAN browser are seams that unit tests replace.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/lan.h"

namespace cloudlet::client {

using Millis = std::chrono::milliseconds;

struct SessionOptions {
  std::vector<std::string> registries = {};  // tried in order; the one that last answered first
  std::string token = {};
  std::string client_id = {};
  std::string ca_file = {};
  bool use_lan = true;
  Millis browse{1500};
  Millis ping{1000};
  Millis timeout{10'000};
  Millis wait{120'000};
  bool allow_http = false;  // plain http:// registries that are not loopback
};

struct Candidate {
  std::string id = {}, name = {}, agent = {}, source = {}, verification = {};
  std::optional<double> rtt_ms = {};
  double load = 0;
  std::optional<common::GeoPoint> geo = {};
};

struct PlacementInfo {
  std::string id, name, cloudlet, endpoint, state;
  bool moved = false;
};

using HttpFactory = std::function<std::unique_ptr<api::HttpClient>()>;
using BrowserFactory = std::function<common::Result<std::unique_ptr<discovery::ServiceBrowser>>(
    discovery::ServiceEventHandler on_event)>;
using EndpointChanged = std::function<void(const std::string& name, const std::string& old_endpoint,
                                           const std::string& new_endpoint)>;

class Session {
 public:
  // InvalidArgument naming the option. `http` and `browser` default to libcurl and Avahi; a browser
  // that cannot start (no D-Bus) leaves the LAN out, it is no error.
  static common::Result<std::unique_ptr<Session>> Create(SessionOptions options, HttpFactory http = {},
                                                         BrowserFactory browser = {});
  ~Session();

  void SetLocation(common::GeoPoint at);
  void OnEndpointChanged(EndpointChanged fn);

  // Candidates, fastest measured first (unmeasured last, by the registry's order).
  common::Result<std::vector<Candidate>> Find(Millis timeout);
  common::Result<PlacementInfo> Place(const std::string& app_json, Millis timeout);
  common::Result<PlacementInfo> UpdateLocation(const std::string& id, common::GeoPoint at, Millis timeout);
  common::Status Release(const std::string& id, Millis timeout);

  const SessionOptions& options() const { return options_; }

 private:
  using Deadline = std::chrono::steady_clock::time_point;
  struct Held {  // a placement this session made
    std::string name, cloudlet, endpoint, state;
    nlohmann::json app;
  };

  Session(SessionOptions options, HttpFactory http);
  // One registry call with failover: the next registry on a refused connection or a 5xx, with
  // backoff, until `deadline`. HTTP errors become the matching status with the problem's detail.
  common::Result<nlohmann::json> Call(const std::string& method, const std::string& path, const nlohmann::json* body,
                                      Deadline deadline);
  common::Result<nlohmann::json> RegistryCloudlets(const std::vector<std::string>& lan_ids, Deadline deadline);
  void Measure(std::vector<Candidate>& candidates, Deadline deadline);
  nlohmann::json ClientJson(const std::vector<Candidate>& measured) const;
  // Confirms and follows placement `id` until it runs (or is active, for an app with nothing to run).
  common::Result<nlohmann::json> ConfirmAndWait(const std::string& id, bool runs, Deadline deadline);
  PlacementInfo Remember(const nlohmann::json& placement, const nlohmann::json& app);
  std::vector<Candidate> FreshCandidates(Millis max_age);

  const SessionOptions options_;
  HttpFactory http_;
  common::SystemClock clock_;
  discovery::LanTable lan_{clock_};
  std::unique_ptr<discovery::ServiceBrowser> browser_;
  std::chrono::steady_clock::time_point browse_started_;

  mutable std::mutex mu_;
  std::optional<common::GeoPoint> at_;
  size_t good_registry_ = 0;
  std::vector<Candidate> last_found_;
  std::chrono::steady_clock::time_point found_at_{};
  std::map<std::string, Held> held_;
  EndpointChanged on_endpoint_changed_;
};

// What a status code is called in the C ABI's terms.
const char* StatusName(common::StatusCode code);

}  // namespace cloudlet::client
