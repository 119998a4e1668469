#include "sim_live.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"

namespace cloudlet::cli {

namespace {

using common::Result;
using common::Status;
using nlohmann::json;

constexpr int kCloud = -2;
constexpr int kStay = -1;

class LiveRemote : public sim::Remote {
 public:
  explicit LiveRemote(LiveOptions o) : o_(std::move(o)), http_(api::MakeHttpClient({.ca_file = o_.ca_file})) {
    while (!o_.url.empty() && o_.url.back() == '/') o_.url.pop_back();
  }

  Status Setup(const sim::Scenario& s) override {
    s_ = &s;
    for (size_t j = 0; j < s.cloudlets.size(); ++j) {
      const sim::SimCloudlet& c = s.cloudlets[j];
      std::string id = o_.prefix;
      for (char ch : c.id) id += std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '-';
      id = id.substr(0, 64);
      index_of_[id] = static_cast<int>(j);
      ids_.push_back(id);
      const common::GeoPoint geo = sim::ToGeo(s, c.at);
      json vms = json::array();
      for (int app : c.cached) vms.push_back({{"digest", s.apps[static_cast<size_t>(app)].base_vm_digest}, {"size_mb", std::max(1.0, s.apps[static_cast<size_t>(app)].base_vm_mb)}});
      const json body = {{"name", id.substr(0, 63)}, {"endpoint", "http://" + id + ".sim.invalid:8471"}, {"geo", {{"lat", geo.lat}, {"lon", geo.lon}}},
                         {"capacity", {{"cpu_millis", c.cpu_millis}, {"mem_mb", c.mem_mb}}}, {"isolation", {"vm", "container"}},
                         {"wan_mbps", c.wan_mbps}, {"base_vms", vms}, {"labels", {{"sim", s.name}}}};
      auto r = Call("PUT", "/v1/cloudlets/" + id, body);
      if (!r.ok()) return r.status();
      reported_.emplace_back(c.cached.begin(), c.cached.end());
    }
    return Status::Ok();
  }

  Status Heartbeat(size_t j, double load, int64_t free_cpu, int64_t free_mem, const std::vector<int>& cached) override {
    json body = {{"load", load}, {"free", {{"cpu_millis", free_cpu}, {"mem_mb", free_mem}}}};
    json added = json::array();
    for (int app : cached) {
      if (std::find(reported_[j].begin(), reported_[j].end(), app) != reported_[j].end()) continue;
      const auto& a = s_->apps[static_cast<size_t>(app)];
      added.push_back({{"digest", a.base_vm_digest}, {"size_mb", std::max(1.0, a.base_vm_mb)}});
    }
    json removed = json::array();
    for (int app : reported_[j]) {
      if (std::find(cached.begin(), cached.end(), app) == cached.end()) removed.push_back(s_->apps[static_cast<size_t>(app)].base_vm_digest);
    }
    if (!added.empty() || !removed.empty()) body["cache"] = {{"added", added}, {"removed", removed}};
    auto r = Call("POST", "/v1/cloudlets/" + ids_[j] + "/heartbeat", body);
    if (!r.ok()) return r.status();
    reported_[j] = cached;
    return Status::Ok();
  }

  Result<int> Place(size_t user, int app, common::GeoPoint at) override {
    auto placed = PlaceAndConfirm(user, app, at);
    if (!placed.ok()) return placed.status();
    placement_of_[user] = placed->second;
    return placed->first;
  }

  Result<int> Move(size_t user, int app, common::GeoPoint at) override {
    auto it = placement_of_.find(user);
    if (it == placement_of_.end() || it->second.empty()) {  // in the cloud: try the cloudlets again
      auto placed = Place(user, app, at);
      if (!placed.ok()) return placed.status();
      return *placed == kCloud ? kStay : *placed;
    }
    auto advice = Call("POST", "/v1/placements/" + it->second + "/location", {{"geo", {{"lat", at.lat}, {"lon", at.lon}}}});
    if (!advice.ok()) return advice.status();
    if (advice->value("advice", "stay") != "migrate") return kStay;
    // Move: a new placement at the new position, confirmed, then the old one released.
    auto placed = PlaceAndConfirm(user, app, at);
    if (!placed.ok()) return placed.status();
    if (placed->first == kCloud) return kStay;
    auto released = Call("DELETE", "/v1/placements/" + it->second, json());
    if (!released.ok()) return released.status();
    it->second = placed->second;
    return placed->first;
  }

  Status Release(size_t user) override {
    auto it = placement_of_.find(user);
    if (it == placement_of_.end()) return Status::Ok();
    const std::string id = it->second;
    placement_of_.erase(it);
    if (id.empty()) return Status::Ok();
    return Call("DELETE", "/v1/placements/" + id, json()).status();
  }

  // Best effort to the end: one failed call does not leave the rest behind.
  Status Finish() override {
    Status first;
    auto keep = [&first](Status s) {
      if (first.ok() && !s.ok()) first = std::move(s);
    };
    std::vector<size_t> users;
    for (const auto& [u, id] : placement_of_) users.push_back(u);
    for (size_t u : users) keep(Release(u));
    for (const auto& id : ids_) keep(Call("DELETE", "/v1/cloudlets/" + id, json()).status());
    ids_.clear();
    return first;
  }

 private:
  // (cloudlet index or kCloud, placement id or "").
  Result<std::pair<int, std::string>> PlaceAndConfirm(size_t user, int app, common::GeoPoint at) {
    const sim::SimApp& a = s_->apps[static_cast<size_t>(app)];
    json body = {{"app",
                  {{"name", a.name}, {"base_vm", a.base_vm_digest}, {"base_vm_mb", a.base_vm_mb}, {"overlay_mb", a.overlay_mb},
                   {"cpu_millis", a.cpu_millis}, {"mem_mb", a.mem_mb}, {"isolation", a.isolation}, {"service_ms", a.service_ms},
                   {"req_rate_hz", a.req_rate_hz}, {"session_s", a.session_s}, {"max_rtt_ms", a.max_rtt_ms}}},
                 {"client", {{"id", "sim-user-" + std::to_string(user)}, {"geo", {{"lat", at.lat}, {"lon", at.lon}}}}},
                 {"k", 1}};
    auto r = Call("POST", "/v1/placements", body);
    if (!r.ok()) return r.status();
    if (!r->contains("placement_id") || !(*r)["placement_id"].is_string() || !r->contains("chosen") || !(*r)["chosen"].is_object()) return std::pair<int, std::string>{kCloud, ""};
    const std::string id = (*r)["placement_id"].get<std::string>(), cloudlet = (*r)["chosen"].value("cloudlet", "");
    auto where = index_of_.find(cloudlet);
    if (id.empty() || where == index_of_.end()) {
      (void)Call("DELETE", "/v1/placements/" + id, json());
      return Status::FailedPrecondition("the registry placed on '" + cloudlet.substr(0, 64) +
                                        "', not a cloudlet of this scenario: run --live against a registry that holds "
                                        "only the simulation's cloudlets");
    }
    auto confirmed = Call("POST", "/v1/placements/" + id + "/confirm", json());
    if (!confirmed.ok()) return confirmed.status();
    return std::pair<int, std::string>{where->second, id};
  }

  Result<json> Call(const std::string& method, const std::string& path, const json& body) {
    api::ClientRequest req{.method = method, .url = o_.url + path};
    req.headers["Authorization"] = "Bearer " + o_.token;
    if (!body.is_null()) {
      req.body = body.dump();
      req.headers["Content-Type"] = "application/json";
    }
    ++calls_;
    auto r = http_->Send(req);
    if (!r.ok()) return Status::Unavailable(method + " " + path + ": " + r.status().message());
    if (r->status == 204) return json::object();
    if (r->status < 200 || r->status >= 300) {
      std::string detail = r->body.substr(0, 300);
      try {
        detail = json::parse(r->body).value("detail", detail);
      } catch (const std::exception&) {
      }
      return Status::Unavailable(method + " " + path + " answered " + std::to_string(r->status) + ": " + detail);
    }
    try {
      return json::parse(r->body);
    } catch (const std::exception&) {
      return Status::Unavailable(method + " " + path + ": the answer is not JSON");
    }
  }

  LiveOptions o_;
  std::unique_ptr<api::HttpClient> http_;
  const sim::Scenario* s_ = nullptr;
  std::vector<std::string> ids_;
  std::map<std::string, int> index_of_;
  std::vector<std::vector<int>> reported_;
  std::map<size_t, std::string> placement_of_;  // user -> placement id ("" when in the cloud)
  uint64_t calls_ = 0;
};

}  // namespace

std::unique_ptr<sim::Remote> MakeLiveRemote(LiveOptions options) { return std::make_unique<LiveRemote>(std::move(options)); }

}  // namespace cloudlet::cli
