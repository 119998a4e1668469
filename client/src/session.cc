#include "session.h"

#include <algorithm>
#include <set>
#include <thread>

#include "cloudlet/discovery/advert_check.h"
#include "cloudlet/discovery/avahi.h"
#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::client {
namespace {

using common::Result;
using common::Status;
using common::StatusCode;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

constexpr size_t kMaxMeasured = 16;      // candidates pinged at once
constexpr size_t kRegistryPage = 20;     // the registry's nearest cloudlets asked for
constexpr Millis kFreshFind{30'000};     // how long a find's RTTs are used for placing
constexpr Millis kLongestWait{10'000};   // one blocking query

Millis Left(Steady::time_point deadline) {
  return std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Steady::now()));
}

// Timeouts read as "timed out ..." so that the C ABI can tell them (CLOUDLET_ERR_TIMEOUT).
Status TimedOut(const std::string& what) { return Status::Unavailable("timed out " + what); }

std::string Detail(const api::ClientResponse& r) {
  auto body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("detail") && body["detail"].is_string()) return body["detail"];
  return "HTTP " + std::to_string(r.status);
}

Status FromHttp(const api::ClientResponse& r, const std::string& registry) {
  const std::string why = registry + ": " + Detail(r);
  switch (r.status) {
    case 400: case 413: case 422: return Status::InvalidArgument(why);
    case 401: case 403: return Status::PermissionDenied(why);
    case 404: return Status::NotFound(why);
    case 409: return Status::FailedPrecondition(why);
    case 429: return Status::ResourceExhausted(why);
    default: return Status::Unavailable(why);
  }
}

std::string Str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// Placement ids go into URL paths: only what the registry issues ([a-z0-9-], at most 64).
Status CheckPlacementId(const std::string& id) {
  const bool plain = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
  return plain ? Status::Ok() : Status::InvalidField("placement_id", "is not a placement id");
}

std::string AgentUrl(const discovery::ServiceInstance& i) {
  const bool v6 = i.address.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + i.address + "]" : i.address) + ":" + std::to_string(i.port);
}

}  // namespace

const char* StatusName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return "denied";
    case StatusCode::kResourceExhausted: return "no capacity";
    case StatusCode::kFailedPrecondition: return "failed";
    case StatusCode::kUnavailable: return "unavailable";
    default: return "internal";
  }
}

Result<std::unique_ptr<Session>> Session::Create(SessionOptions options, HttpFactory http, BrowserFactory browser) {
  for (const auto& url : options.registries) {
    // Tokens never cross a network in the clear: plain http only to loopback.
    CLOUDLET_RETURN_IF_ERROR(api::CheckServerUrl(url, options.allow_http, "registries"));
  }
  for (auto [value, name] : {std::pair{options.browse, "browse_ms"}, std::pair{options.ping, "ping_ms"},
                             std::pair{options.timeout, "timeout_ms"}, std::pair{options.wait, "wait_ms"}}) {
    if (value.count() <= 0 || value > Millis(3'600'000)) return Status::InvalidField(name, "must be 1 ms to 1 hour");
  }
  if (options.token.size() > 4096) return Status::InvalidField("token", "is too long");
  if (options.client_id.size() > 128) return Status::InvalidField("client_id", "is at most 128 characters");
  if (!http) {
    http = [ca = options.ca_file] { return api::MakeHttpClient({.ca_file = ca}); };
  }
  const bool lan = options.use_lan;
  std::unique_ptr<Session> s(new Session(std::move(options), std::move(http)));
  if (lan) {
    auto handler = [session = s.get()](const discovery::ServiceEvent& e) { session->lan_.Apply(e); };
    auto b = browser ? browser(handler) : discovery::MakeAvahiBrowser(discovery::kCloudletServiceType, handler);
    if (b.ok()) s->browser_ = std::move(*b);  // else: no LAN, the registry only
  }
  return s;
}

Session::Session(SessionOptions options, HttpFactory http)
    : options_(std::move(options)), http_(std::move(http)), browse_started_(Steady::now()) {}

Session::~Session() { browser_.reset(); }  // its thread stops before the table goes

void Session::SetLocation(common::GeoPoint at) {
  std::lock_guard lock(mu_);
  at_ = at;
}

void Session::OnEndpointChanged(EndpointChanged fn) {
  std::lock_guard lock(mu_);
  on_endpoint_changed_ = std::move(fn);
}

Result<json> Session::Call(const std::string& method, const std::string& path, const json* body, Deadline deadline) {
  if (options_.registries.empty()) return Status::FailedPrecondition("no registry was given (options.registries)");
  size_t start;
  {
    std::lock_guard lock(mu_);
    start = good_registry_;
  }
  const size_t n = options_.registries.size();
  auto client = http_();
  std::vector<std::string> why(n);  // each registry's last failure
  auto none_answered = [&] {
    std::string all;
    for (const auto& w : why) all += (all.empty() || w.empty() ? "" : "; ") + w;
    return "no registry answered (" + all + ")";
  };
  Millis backoff{100};
  // A registry that swallows packets must not use up the time of the others: each try gets a share of
  // the client's timeout (a blocking query, its wait and some).
  const bool blocking = path.find("wait=") != std::string::npos;
  const Millis per_try = blocking ? kLongestWait + Millis(5'000)
                                  : std::max(Millis(1'000), options_.timeout / static_cast<long>(n));
  // Two rounds over every registry, then give up: the caller decides whether to try again.
  for (size_t attempt = 0; attempt < 2 * n; ++attempt) {
    const Millis left = Left(deadline);
    if (left.count() == 0) return TimedOut("calling the registry: " + none_answered());
    const size_t i = (start + attempt) % n;
    const std::string& base = options_.registries[i];
    api::ClientRequest req{.method = method, .url = base + path, .body = body ? body->dump() : "",
                           .headers = {{"Authorization", "Bearer " + options_.token}},
                           .timeout = std::min(left, per_try)};
    if (body) req.headers["Content-Type"] = "application/json";
    auto r = client->Send(req);
    if (r.ok() && r->status < 500) {
      {
        std::lock_guard lock(mu_);
        good_registry_ = i;
      }
      if (r->status >= 400) return FromHttp(*r, base);
      if (r->body.empty()) return json::object();
      json parsed = json::parse(r->body, nullptr, false);
      if (parsed.is_discarded()) return Status::Unavailable(base + ": an answer that is not JSON");
      return parsed;
    }
    why[i] = r.ok() ? FromHttp(*r, base).message() : r.status().message();
    if (why[i].find(base) == std::string::npos) why[i] = base + ": " + why[i];
    if (attempt + 1 == n) {  // every registry failed once: back off before the second round
      std::this_thread::sleep_for(std::min(backoff, Left(deadline)));
      backoff *= 2;
    }
  }
  return Status::Unavailable(none_answered());
}

Result<json> Session::RegistryCloudlets(const std::vector<std::string>& lan_ids, Deadline deadline) {
  std::string query = "/v1/cloudlets?state=healthy&limit=" + std::to_string(kRegistryPage);
  {
    std::lock_guard lock(mu_);
    if (at_) query += "&near=" + std::to_string(at_->lat) + "," + std::to_string(at_->lon);
  }
  auto page = Call("GET", query, nullptr, deadline);
  if (!page.ok()) return page.status();
  json rows = page->value("cloudlets", json::array());
  std::set<std::string> listed;
  for (const auto& r : rows) listed.insert(Str(r, "id"));
  // The LAN's cloudlets the page did not hold: their keys are needed to check their adverts.
  for (const auto& id : lan_ids) {
    if (listed.count(id) || !discovery::ValidateCloudletId(id).ok()) continue;
    auto one = Call("GET", "/v1/cloudlets/" + id, nullptr, deadline);
    if (one.ok()) rows.push_back(*one);
    else if (one.status().code() != StatusCode::kNotFound) return one.status();
    listed.insert(id);
  }
  return rows;
}

void Session::Measure(std::vector<Candidate>& candidates, Deadline deadline) {
  std::vector<std::thread> pingers;
  const size_t n = std::min(candidates.size(), kMaxMeasured);
  for (size_t i = 0; i < n; ++i) {
    pingers.emplace_back([this, &c = candidates[i], deadline] {
      auto http = http_();
      // The first ping pays for the connection; the least of three is the path's RTT.
      for (int attempt = 0; attempt < 3; ++attempt) {
        const Millis left = Left(deadline);
        if (left.count() == 0) break;
        const auto t0 = Steady::now();
        auto r = http->Send({.method = "GET", .url = c.agent + "/v1/ping", .timeout = left});
        if (!r.ok() || r->status != 200) break;
        const double ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
        c.rtt_ms = c.rtt_ms ? std::min(*c.rtt_ms, ms) : ms;
      }
    });
  }
  for (auto& t : pingers) t.join();
}

Result<std::vector<Candidate>> Session::Find(Millis timeout) {
  const Deadline deadline = Steady::now() + timeout;
  // The first find gives the LAN time to answer; later ones read the table the browser keeps.
  const bool lan = browser_ && browser_->connected();
  if (lan) std::this_thread::sleep_until(std::min(deadline, browse_started_ + options_.browse));
  const auto on_lan = lan ? lan_.Snapshot() : std::vector<discovery::LanCloudlet>{};

  std::optional<json> registered;
  Status registry_status = Status::Ok();
  if (!options_.registries.empty()) {
    std::vector<std::string> ids;
    for (const auto& c : on_lan) ids.push_back(c.advert.id);
    auto rows = RegistryCloudlets(ids, deadline);
    if (rows.ok()) registered = std::move(*rows);
    else registry_status = rows.status();
  }
  if (!registry_status.ok() && on_lan.empty()) {
    return Status(registry_status.code(),
                  registry_status.message() + (lan ? "; nothing on the LAN either" : "; the LAN was not searched (no mDNS daemon)"));
  }
  if (options_.registries.empty() && !lan) {
    return Status::Unavailable("no registry was given and no mDNS daemon answers: nowhere to search");
  }

  std::map<std::string, const json*> by_id;
  if (registered) {
    for (const auto& r : *registered) by_id[Str(r, "id")] = &r;
  }
  std::vector<Candidate> found;
  std::set<std::string> seen;
  for (const auto& c : on_lan) {
    if (seen.count(c.advert.id)) continue;  // the same cloudlet on another interface
    auto it = by_id.find(c.advert.id);
    const json* record = it == by_id.end() ? nullptr : it->second;
    const std::string key = record ? Str(*record, "public_key") : "";
    const auto check = discovery::CheckAdvert(c, registered && record ? &key : nullptr);
    if (check.trust == discovery::AdvertTrust::kRejected) continue;  // a rogue advert: never offered
    if (registered && !record) continue;  // the registry does not know it: it could not be placed on
    Candidate cand{.id = c.advert.id, .name = c.instance.name, .agent = AgentUrl(c.instance),
                   .source = record ? "lan+registry" : "lan", .verification = discovery::AdvertTrustName(check.trust),
                   .load = c.advert.load_percent / 100.0, .geo = c.advert.geo};
    seen.insert(c.advert.id);
    found.push_back(std::move(cand));
  }
  if (registered) {
    for (const auto& r : *registered) {
      const std::string id = Str(r, "id");
      if (id.empty() || seen.count(id) || Str(r, "state") == "expired") continue;
      Candidate cand{.id = id, .name = Str(r, "name"), .agent = Str(r, "endpoint"), .source = "registry",
                     .verification = "registered", .load = r.value("load", 0.0)};
      if (r.contains("geo") && r["geo"].is_object()) cand.geo = common::GeoPoint{r["geo"].value("lat", 0.0), r["geo"].value("lon", 0.0)};
      seen.insert(id);
      found.push_back(std::move(cand));
    }
  }
  Measure(found, std::min(deadline, Steady::now() + options_.ping));
  std::stable_sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
    if (a.rtt_ms.has_value() != b.rtt_ms.has_value()) return a.rtt_ms.has_value();
    return a.rtt_ms && *a.rtt_ms < *b.rtt_ms;
  });
  std::lock_guard lock(mu_);
  last_found_ = found;
  found_at_ = Steady::now();
  return found;
}

std::vector<Candidate> Session::FreshCandidates(Millis max_age) {
  std::lock_guard lock(mu_);
  if (last_found_.empty() || Steady::now() - found_at_ > max_age) return {};
  return last_found_;
}

json Session::ClientJson(const std::vector<Candidate>& measured) const {
  json client = json::object();
  std::lock_guard lock(mu_);
  if (!options_.client_id.empty()) client["id"] = options_.client_id;
  if (at_) client["geo"] = {{"lat", at_->lat}, {"lon", at_->lon}};
  for (const auto& c : measured) {
    if (c.rtt_ms) client["rtt_ms"][c.id] = *c.rtt_ms;
  }
  return client;
}

Result<json> Session::ConfirmAndWait(const std::string& id, bool runs, Deadline deadline) {
  auto p = Call("POST", "/v1/placements/" + id + "/confirm", nullptr, deadline);
  if (!p.ok()) return p.status();
  json current = *p;
  while (true) {
    const std::string state = Str(current, "state");
    if (state == "running" || (!runs && state == "active")) return current;
    if (state == "failed") return Status::FailedPrecondition("placement " + id + " failed: " + Str(current, "reason"));
    if (state == "released" || state == "expired") return Status::FailedPrecondition("placement " + id + " is " + state);
    const Millis left = Left(deadline);
    if (left.count() == 0) return TimedOut("waiting for placement " + id + " to run (it is " + state + ")");
    const Millis wait = std::min(left, kLongestWait);
    auto next = Call("GET", "/v1/placements/" + id + "?index=" + std::to_string(current.value("modify_index", 0)) +
                                "&wait=" + std::to_string(wait.count()) + "ms",
                     nullptr, deadline);
    if (next.ok()) {
      current = *next;
    } else if (next.status().code() != StatusCode::kUnavailable) {
      return next.status();
    } else {
      std::this_thread::sleep_for(std::min(Left(deadline), Millis(500)));  // the registry may come back
    }
  }
}

PlacementInfo Session::Remember(const json& placement, const json& app) {
  PlacementInfo info{.id = Str(placement, "placement_id"), .name = Str(placement, "name"),
                     .cloudlet = Str(placement, "cloudlet"), .endpoint = Str(placement, "endpoint"),
                     .state = Str(placement, "state")};
  if (info.name.empty()) info.name = info.id;
  std::lock_guard lock(mu_);
  held_[info.id] = {info.name, info.cloudlet, info.endpoint, info.state, app};
  return info;
}

Result<PlacementInfo> Session::Place(const std::string& app_json, Millis timeout) {
  const Deadline deadline = Steady::now() + timeout;
  json app = json::parse(app_json, nullptr, false);
  if (!app.is_object()) return Status::InvalidField("app", "must be a JSON object (an app spec)");
  if (options_.registries.empty()) return Status::InvalidField("registries", "placing needs a registry");
  const bool runs = app.contains("image") || app.contains("overlay_url");
  auto candidates = FreshCandidates(kFreshFind);
  if (candidates.empty()) {
    auto found = Find(std::min(Left(deadline), options_.timeout));
    if (!found.ok()) return found.status();
    candidates = std::move(*found);
  }
  json request = {{"app", app}, {"client", ClientJson(candidates)}, {"k", 3}};
  auto placed = Call("POST", "/v1/placements", &request, deadline);
  if (!placed.ok()) return placed.status();
  const std::string id = Str(*placed, "placement_id");
  if (id.empty()) {
    return Status::ResourceExhausted("no cloudlet can take the app (" + placed->value("rejected", json::object()).dump() + ")");
  }
  auto running = ConfirmAndWait(id, runs, deadline);
  if (!running.ok()) {
    (void)Call("DELETE", "/v1/placements/" + id, nullptr, Steady::now() + options_.timeout);  // hold nothing
    return running.status();
  }
  return Remember(*running, app);
}

Result<PlacementInfo> Session::UpdateLocation(const std::string& id, common::GeoPoint at, Millis timeout) {
  CLOUDLET_RETURN_IF_ERROR(CheckPlacementId(id));
  if (!common::IsValidGeo(at)) return Status::InvalidField("lat,lon", "must be a position in degrees");
  const Deadline deadline = Steady::now() + timeout;
  SetLocation(at);
  std::optional<Held> held;
  {
    std::lock_guard lock(mu_);
    if (auto it = held_.find(id); it != held_.end()) held = it->second;
  }
  if (!held) {
    auto p = Call("GET", "/v1/placements/" + id, nullptr, deadline);
    if (!p.ok()) return p.status();
    const json app = p->contains("request") ? (*p)["request"].value("app", json::object()) : json::object();
    const PlacementInfo known = Remember(*p, app);
    held = Held{known.name, known.cloudlet, known.endpoint, known.state, app};
  }
  const PlacementInfo stay{.id = id, .name = held->name, .cloudlet = held->cloudlet, .endpoint = held->endpoint,
                           .state = held->state};
  auto candidates = Find(std::min(Left(deadline), options_.timeout));
  if (!candidates.ok()) return candidates.status();
  const json client = ClientJson(*candidates);
  auto advice = Call("POST", "/v1/placements/" + id + "/location", &client, deadline);
  if (!advice.ok()) return advice.status();
  if (Str(*advice, "advice") != "migrate") return stay;

  json request = {{"app", held->app}, {"client", client}, {"k", 3}, {"replaces", id}};
  auto placed = Call("POST", "/v1/placements", &request, deadline);
  if (!placed.ok()) return placed.status();
  const std::string next = Str(*placed, "placement_id");
  if (next.empty()) return stay;  // nowhere better can take it now
  if (Str(placed->value("chosen", json::object()), "cloudlet") == held->cloudlet) {
    (void)Call("DELETE", "/v1/placements/" + next, nullptr, deadline);
    return stay;
  }
  const bool runs = held->app.contains("image") || held->app.contains("overlay_url");
  auto running = ConfirmAndWait(next, runs, deadline);
  if (!running.ok()) {
    (void)Call("DELETE", "/v1/placements/" + next, nullptr, Steady::now() + options_.timeout);
    return Status(running.status().code(), running.status().message() + "; " + id + " keeps serving");
  }
  // Make before break: the new one runs, so the old one goes.
  if (auto released = Call("DELETE", "/v1/placements/" + id, nullptr, Steady::now() + options_.timeout);
      !released.ok() && released.status().code() != StatusCode::kNotFound) {
    return Status(released.status().code(), "moved to " + next + " but could not release " + id + ": " +
                                                released.status().message());
  }
  PlacementInfo info = Remember(*running, held->app);
  info.moved = true;
  EndpointChanged notify;
  {
    std::lock_guard lock(mu_);
    held_.erase(id);
    notify = on_endpoint_changed_;
  }
  if (notify && info.endpoint != held->endpoint) notify(info.name, held->endpoint, info.endpoint);
  return info;
}

Status Session::Release(const std::string& id, Millis timeout) {
  CLOUDLET_RETURN_IF_ERROR(CheckPlacementId(id));
  auto r = Call("DELETE", "/v1/placements/" + id, nullptr, Steady::now() + timeout);
  if (!r.ok()) return r.status();
  std::lock_guard lock(mu_);
  held_.erase(id);
  return Status::Ok();
}

}  // namespace cloudlet::client
