#include "cloudlet/sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "cloudlet/common/json_fields.h"

namespace cloudlet::sim {

using common::Result;
using common::Status;
using nlohmann::json;

namespace {

constexpr double kMetresPerDegree = 111'194.9;  // along a meridian, mean Earth radius
constexpr size_t kMaxScenarioBytes = 16 << 20;
constexpr int kMaxUsers = 1'000'000;
constexpr size_t kMaxCloudlets = 100'000;
constexpr size_t kMaxSteps = 100'000'000;

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// One JSON object being read (common/json_fields.h): ranges, and unknown keys reported.
using Obj = common::JsonFields;

std::string Indexed(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

Status ReadPosition(const json& v, const std::string& path, Position& out) {
  if (!v.is_object()) return Status::InvalidField(path, "must be an object with x_m and y_m");
  Obj o(v, path);
  CLOUDLET_RETURN_IF_ERROR(o.NumberIn("x_m", out.x_m, 0, 1e7, false, true));
  CLOUDLET_RETURN_IF_ERROR(o.NumberIn("y_m", out.y_m, 0, 1e7, false, true));
  return o.NoOthers();
}

// A stable stand-in for an app's base VM digest: 64 hex digits derived from its name.
std::string DigestOf(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  std::string out = "sha256:";
  char buf[17];
  for (int i = 0; i < 4; ++i) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    out += buf;
  }
  return out;
}

// Reads each object of the list `key` with `read_one(Obj&)`, then checks it for stray fields; the
// string field `unique` (which read_one requires) must differ between entries.
template <typename ReadOne>
Status ReadObjects(const json& list, const std::string& key, const char* unique, ReadOne read_one) {
  std::set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = Indexed(key, i);
    if (!list[i].is_object()) return Status::InvalidField(path, "must be an object");
    Obj o(list[i], path);
    CLOUDLET_RETURN_IF_ERROR(read_one(o));
    CLOUDLET_RETURN_IF_ERROR(o.NoOthers());
    const std::string& name = list[i].at(unique).get_ref<const std::string&>();
    if (!seen.insert(name).second) return Status::InvalidField(o.Path(unique), "'" + name + "' appears twice");
  }
  return Status::Ok();
}

Status ReadApps(const json& root, Scenario& s) {
  if (!root.contains("apps")) return Status::InvalidField("apps", "is required");
  const json& apps = root.at("apps");
  if (!apps.is_array() || apps.empty() || apps.size() > 100) return Status::InvalidField("apps", "must be a list of 1 to 100 apps");
  double shares = 0;
  CLOUDLET_RETURN_IF_ERROR(ReadObjects(apps, "apps", "name", [&](Obj& o) {
    SimApp a;
    CLOUDLET_RETURN_IF_ERROR(o.StringIn("name", a.name, 128, true));
    CLOUDLET_RETURN_IF_ERROR(o.NumberIn("share", a.share, 0, 1, true));
    CLOUDLET_RETURN_IF_ERROR(o.NumberIn("base_vm_mb", a.base_vm_mb, 0, 1e7));
    CLOUDLET_RETURN_IF_ERROR(o.NumberIn("overlay_mb", a.overlay_mb, 0, 1e7));
    CLOUDLET_RETURN_IF_ERROR(o.IntIn("cpu_millis", a.cpu_millis, 1, 100'000'000, true));
    CLOUDLET_RETURN_IF_ERROR(o.IntIn("mem_mb", a.mem_mb, 0, 1'000'000'000));
    CLOUDLET_RETURN_IF_ERROR(o.OneOf("isolation", a.isolation, {"vm", "container"}));
    CLOUDLET_RETURN_IF_ERROR(o.NumberIn("service_ms", a.service_ms, 0, 1e6));
    CLOUDLET_RETURN_IF_ERROR(o.NumberIn("req_rate_hz", a.req_rate_hz, 0, 1e6, true));
    CLOUDLET_RETURN_IF_ERROR(o.NumberIn("session_s", a.session_s, 0, 1e8, true));
    CLOUDLET_RETURN_IF_ERROR(o.NumberIn("max_rtt_ms", a.max_rtt_ms, 0, 1e6));
    a.base_vm_digest = DigestOf(a.name);
    shares += a.share;
    s.apps.push_back(std::move(a));
    return Status::Ok();
  }));
  if (std::abs(shares - 1) > 1e-6) return Status::InvalidField("apps", "the shares must add up to 1, not " + Num(shares));
  return Status::Ok();
}

Result<int> AppIndex(const Scenario& s, const json& v, const std::string& path) {
  if (!v.is_string()) return Status::InvalidField(path, "must name an app");
  for (size_t i = 0; i < s.apps.size(); ++i) {
    if (s.apps[i].name == v.get_ref<const std::string&>()) return static_cast<int>(i);
  }
  return Status::InvalidField(path, "names no app in apps: '" + v.get<std::string>().substr(0, 64) + "'");
}

Status ReadCached(Obj& o, const Scenario& s, std::vector<int>& out) {
  if (!o.Has("cached")) return Status::Ok();
  const json& c = o.Raw("cached");
  if (!c.is_array() || c.size() > 100) return Status::InvalidField(o.Path("cached"), "must be a list of app names");
  for (size_t i = 0; i < c.size(); ++i) {
    auto idx = AppIndex(s, c[i], Indexed(o.Path("cached"), i));
    if (!idx.ok()) return idx.status();
    out.push_back(*idx);
  }
  return Status::Ok();
}

// What a listed cloudlet and the generator's prototype both give.
Status ReadCapacity(Obj& o, const Scenario& s, SimCloudlet& c) {
  c.mem_mb = 1 << 20;
  CLOUDLET_RETURN_IF_ERROR(o.IntIn("cpu_millis", c.cpu_millis, 1, 100'000'000, true));
  CLOUDLET_RETURN_IF_ERROR(o.IntIn("mem_mb", c.mem_mb, 1, 1'000'000'000));
  CLOUDLET_RETURN_IF_ERROR(o.NumberIn("base_load", c.base_load, 0, 0.95));
  CLOUDLET_RETURN_IF_ERROR(o.NumberIn("wan_mbps", c.wan_mbps, 0, 1e6, true));
  return ReadCached(o, s, c.cached);
}

Status ReadCloudlets(const json& root, Scenario& s) {
  if (!root.contains("cloudlets")) return Status::InvalidField("cloudlets", "is required");
  const json& c = root.at("cloudlets");
  if (c.is_array()) {
    if (c.empty() || c.size() > kMaxCloudlets) return Status::InvalidField("cloudlets", "must list 1 to 100000 cloudlets");
    return ReadObjects(c, "cloudlets", "id", [&](Obj& o) {
      SimCloudlet cl;
      CLOUDLET_RETURN_IF_ERROR(o.StringIn("id", cl.id, 64, true));
      CLOUDLET_RETURN_IF_ERROR(o.NumberIn("x_m", cl.at.x_m, 0, s.area.width_m, false, true));
      CLOUDLET_RETURN_IF_ERROR(o.NumberIn("y_m", cl.at.y_m, 0, s.area.height_m, false, true));
      CLOUDLET_RETURN_IF_ERROR(ReadCapacity(o, s, cl));
      s.cloudlets.push_back(std::move(cl));
      return Status::Ok();
    });
  }
  if (!c.is_object()) return Status::InvalidField("cloudlets", "must be a list of cloudlets or a generator object");
  Obj o(c, "cloudlets");
  int64_t count = 0;
  std::string layout = "grid";
  SimCloudlet proto;
  double cache_fraction = 0, cluster_radius = 0;
  int64_t clusters = 3;
  CLOUDLET_RETURN_IF_ERROR(o.IntIn("count", count, 1, kMaxCloudlets, true));
  CLOUDLET_RETURN_IF_ERROR(o.OneOf("layout", layout, {"grid", "random", "clustered"}));
  CLOUDLET_RETURN_IF_ERROR(ReadCapacity(o, s, proto));
  CLOUDLET_RETURN_IF_ERROR(o.NumberIn("cache_fraction", cache_fraction, 0, 1));
  CLOUDLET_RETURN_IF_ERROR(o.IntIn("clusters", clusters, 1, 1000));
  cluster_radius = std::min(s.area.width_m, s.area.height_m) / 8;
  CLOUDLET_RETURN_IF_ERROR(o.NumberIn("cluster_radius_m", cluster_radius, 0, 1e7));
  CLOUDLET_RETURN_IF_ERROR(o.NoOthers());
  if (!proto.cached.empty() && cache_fraction == 0) cache_fraction = 1;

  std::mt19937_64 rng(s.seed ^ 0x636C6F75646C6574ULL);
  std::uniform_real_distribution<double> ux(0, s.area.width_m), uy(0, s.area.height_m), u01(0, 1);
  std::vector<Position> centres;
  for (int64_t k = 0; k < clusters; ++k) {
    const double cx = ux(rng);
    centres.push_back({cx, uy(rng)});
  }
  const auto cols = static_cast<int64_t>(std::ceil(std::sqrt(count * s.area.width_m / s.area.height_m)));
  const int64_t rows = (count + cols - 1) / cols;
  for (int64_t i = 0; i < count; ++i) {
    SimCloudlet cl = proto;
    char id[32];
    std::snprintf(id, sizeof id, "cl-%03lld", static_cast<long long>(i + 1));
    cl.id = id;
    if (layout == "grid") {
      cl.at = {(static_cast<double>(i % cols) + 0.5) * s.area.width_m / static_cast<double>(cols),
               (static_cast<double>(i / cols) + 0.5) * s.area.height_m / static_cast<double>(rows)};
    } else if (layout == "random") {
      const double x = ux(rng);
      cl.at = {x, uy(rng)};
    } else {
      const Position c = centres[static_cast<size_t>(i % clusters)];
      const double a = u01(rng) * 2 * std::numbers::pi, r = cluster_radius * std::sqrt(u01(rng));
      cl.at = {std::clamp(c.x_m + r * std::cos(a), 0.0, s.area.width_m),
               std::clamp(c.y_m + r * std::sin(a), 0.0, s.area.height_m)};
    }
    // The first share of the fleet, spread evenly, caches the listed base VMs.
    const bool caches = std::floor(static_cast<double>(i + 1) * cache_fraction) > std::floor(static_cast<double>(i) * cache_fraction);
    if (!caches) cl.cached.clear();
    s.cloudlets.push_back(std::move(cl));
  }
  return Status::Ok();
}

Status ReadUsers(const json& root, Scenario& s, const std::string& file) {
  auto users = Obj::Child(root, "", "users", true);
  if (!users.ok()) return users.status();
  int64_t count = 0;
  CLOUDLET_RETURN_IF_ERROR(users->IntIn("count", count, 0, kMaxUsers));
  if (users->Has("stagger_sessions")) {
    const json& v = users->Raw("stagger_sessions");
    if (!v.is_boolean()) return Status::InvalidField("users.stagger_sessions", "must be true or false");
    s.stagger_sessions = v.get<bool>();
  }
  auto m = Obj::Child(users->self(), "users", "mobility", true);
  if (!m.ok()) return m.status();
  users->Seen("mobility");
  MobilitySpec& spec = s.mobility;
  CLOUDLET_RETURN_IF_ERROR(m->OneOf("model", spec.model, {"random_waypoint", "gauss_markov", "manhattan", "nomadic", "trace"}));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("min_speed_mps", spec.min_speed_mps, 0, 1000));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("max_speed_mps", spec.max_speed_mps, 0, 1000));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("max_pause_s", spec.max_pause_s, 0, 1e6));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("mean_speed_mps", spec.mean_speed_mps, 0, 1000, true));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("alpha", spec.alpha, 0, 0.999));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("speed_sd_mps", spec.speed_sd_mps, 0, 1000));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("heading_sd_rad", spec.heading_sd_rad, 0, 10));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("update_s", spec.update_s, 0, 1e6, true));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("block_m", spec.block_m, 0, 1e6, true));
  double count_points = spec.attraction_count;
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("attraction_count", count_points, 1, 10'000));
  spec.attraction_count = static_cast<int>(count_points);
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("dwell_mean_s", spec.dwell_mean_s, 0, 1e6));
  CLOUDLET_RETURN_IF_ERROR(m->NumberIn("dwell_radius_m", spec.dwell_radius_m, 0, 1e6));
  if (m->Has("attractions")) {
    const json& a = m->Raw("attractions");
    if (!a.is_array() || a.size() > 10'000) return Status::InvalidField(m->Path("attractions"), "must be a list of positions");
    for (size_t i = 0; i < a.size(); ++i) {
      Position p;
      CLOUDLET_RETURN_IF_ERROR(ReadPosition(a[i], Indexed(m->Path("attractions"), i), p));
      spec.attractions.push_back(p);
    }
  }
  std::string trace_file;
  CLOUDLET_RETURN_IF_ERROR(m->StringIn("file", trace_file, 4096));
  CLOUDLET_RETURN_IF_ERROR(m->NoOthers());
  CLOUDLET_RETURN_IF_ERROR(users->NoOthers());
  if (spec.model == "trace") {
    if (trace_file.empty()) return Status::InvalidField("users.mobility.file", "is required for the trace model");
    std::filesystem::path p(trace_file);
    if (p.is_relative()) p = std::filesystem::path(file).parent_path() / p;
    auto trace = ReadTrace(p.string(), s.area);
    if (!trace.ok()) return trace.status();
    spec.trace = std::make_shared<const Trace>(std::move(*trace));
    if (count == 0) count = static_cast<int64_t>(spec.trace->users.size());
  }
  if (count < 1) return Status::InvalidField("users.count", "must be at least 1");
  s.users = static_cast<int>(count);
  const Status mobility = ValidateMobility(spec, s.area);
  if (!mobility.ok()) {
    return Status::InvalidField("users." + mobility.field().value_or("mobility"),
                                mobility.message().substr(mobility.message().find(": ") + 2));
  }
  return Status::Ok();
}

// An optional top-level section (absent: every default), marked as read.
Result<Obj> Section(const json& root, Obj& top, const char* key) {
  top.Seen(key);
  return Obj::Child(root, "", key, false);
}

Status Parse(const json& root, Scenario& s, const std::string& file) {
  if (!root.is_object()) return Status::InvalidField("(top level)", "a scenario is a JSON object");
  Obj top(root, "");
  CLOUDLET_RETURN_IF_ERROR(top.StringIn("name", s.name, 64, true));
  int64_t seed = 1;
  CLOUDLET_RETURN_IF_ERROR(top.IntIn("seed", seed, 0, INT64_MAX));
  s.seed = static_cast<uint64_t>(seed);
  CLOUDLET_RETURN_IF_ERROR(top.NumberIn("duration_s", s.duration_s, 0, 1e8, true, true));
  CLOUDLET_RETURN_IF_ERROR(top.NumberIn("step_s", s.step_s, 0, 3600, true));
  if (s.step_s > s.duration_s) return Status::InvalidField("step_s", "must not exceed duration_s");
  if (s.duration_s / s.step_s > static_cast<double>(kMaxSteps)) return Status::InvalidField("step_s", "too many steps (at most 100,000,000)");

  auto area = Obj::Child(root, "", "area", true);
  if (!area.ok()) return area.status();
  top.Seen("area");
  CLOUDLET_RETURN_IF_ERROR(area->NumberIn("width_m", s.area.width_m, 0, 1e7, true, true));
  CLOUDLET_RETURN_IF_ERROR(area->NumberIn("height_m", s.area.height_m, 0, 1e7, true, true));
  if (area->Has("origin")) {
    auto o = Obj::Child(area->self(), "area", "origin", true);
    if (!o.ok()) return o.status();
    area->Seen("origin");
    CLOUDLET_RETURN_IF_ERROR(o->NumberIn("lat", s.origin.lat, -80, 80, false, true));
    CLOUDLET_RETURN_IF_ERROR(o->NumberIn("lon", s.origin.lon, -180, 180, false, true));
    CLOUDLET_RETURN_IF_ERROR(o->NoOthers());
  }
  CLOUDLET_RETURN_IF_ERROR(area->NoOthers());

  top.Seen("apps");
  CLOUDLET_RETURN_IF_ERROR(ReadApps(root, s));
  top.Seen("cloudlets");
  CLOUDLET_RETURN_IF_ERROR(ReadCloudlets(root, s));
  top.Seen("users");
  CLOUDLET_RETURN_IF_ERROR(ReadUsers(root, s, file));

  auto net = Section(root, top, "network");
  if (!net.ok()) return net.status();
  CLOUDLET_RETURN_IF_ERROR(net->NumberIn("access_ms", s.network.access_ms, 0, 1e4));
  CLOUDLET_RETURN_IF_ERROR(net->NumberIn("per_km_ms", s.network.per_km_ms, 0, 1e3, true));
  CLOUDLET_RETURN_IF_ERROR(net->NumberIn("jitter_ms", s.network.jitter_ms, 0, 1e4));
  CLOUDLET_RETURN_IF_ERROR(net->NumberIn("coverage_m", s.network.coverage_m, 0, 1e7));
  CLOUDLET_RETURN_IF_ERROR(net->NumberIn("cloud_rtt_ms", s.network.cloud_rtt_ms, 0, 1e5));
  CLOUDLET_RETURN_IF_ERROR(net->NoOthers());

  auto cache = Section(root, top, "cache");
  if (!cache.ok()) return cache.status();
  CLOUDLET_RETURN_IF_ERROR(cache->NumberIn("capacity_mb", s.cache.capacity_mb, 0, 1e9));
  CLOUDLET_RETURN_IF_ERROR(cache->OneOf("eviction", s.cache.eviction, {"lru", "none"}));
  CLOUDLET_RETURN_IF_ERROR(cache->NoOthers());

  auto mig = Section(root, top, "migration");
  if (!mig.ok()) return mig.status();
  CLOUDLET_RETURN_IF_ERROR(mig->NumberIn("downtime_s", s.migration.downtime_s, 0, 3600));
  CLOUDLET_RETURN_IF_ERROR(mig->NumberIn("margin", s.migration.margin, 1, 100));
  CLOUDLET_RETURN_IF_ERROR(mig->NumberIn("min_gain_ms", s.migration.min_gain_ms, 0, 1e4));
  CLOUDLET_RETURN_IF_ERROR(mig->NumberIn("check_interval_s", s.migration.check_interval_s, 0, 1e6, true));
  CLOUDLET_RETURN_IF_ERROR(mig->NumberIn("check_distance_m", s.migration.check_distance_m, 0, 1e6));
  CLOUDLET_RETURN_IF_ERROR(mig->NumberIn("recheck_s", s.migration.recheck_s, 0, 1e8, true));
  CLOUDLET_RETURN_IF_ERROR(mig->NoOthers());

  auto pred = Section(root, top, "predict");
  if (!pred.ok()) return pred.status();
  CLOUDLET_RETURN_IF_ERROR(pred->NumberIn("horizon_s", s.predict.horizon_s, 0, 3600));
  CLOUDLET_RETURN_IF_ERROR(pred->NumberIn("process_noise", s.predict.process_noise, 0, 1e3, true));
  CLOUDLET_RETURN_IF_ERROR(pred->NumberIn("measurement_noise_m", s.predict.measurement_noise_m, 0, 1e4, true));
  CLOUDLET_RETURN_IF_ERROR(pred->NoOthers());

  auto opt = Section(root, top, "optimal");
  if (!opt.ok()) return opt.status();
  CLOUDLET_RETURN_IF_ERROR(opt->NumberIn("every_s", s.optimal.every_s, 0, 1e8));
  CLOUDLET_RETURN_IF_ERROR(opt->NumberIn("cell_m", s.optimal.cell_m, 0, 1e6));
  CLOUDLET_RETURN_IF_ERROR(opt->NoOthers());

  return top.NoOthers();
}

}  // namespace

Result<Scenario> ParseScenario(const json& j, const std::string& file) {
  Scenario s;
  s.file = file;
  Status st;
  try {
    st = Parse(j, s, file);
  } catch (const json::exception& e) {  // a wrong type deep inside: report it, never crash
    st = Status::InvalidArgument(std::string("malformed scenario: ") + e.what());
  }
  if (!st.ok()) return Status::InvalidArgument(file + ": " + st.message());
  return s;
}

Result<Scenario> LoadScenario(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::InvalidArgument(path + ": cannot read the scenario: " + ec.message());
  if (size > kMaxScenarioBytes) return Status::InvalidArgument(path + ": the scenario exceeds 16 MiB");
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(path + ": cannot open the scenario");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(path + ": not valid JSON: " + e.what());
  }
  return ParseScenario(j, path);
}

common::GeoPoint ToGeo(const Scenario& s, Position p) {
  constexpr double kRad = std::numbers::pi / 180;
  const double lat = s.origin.lat + p.y_m / kMetresPerDegree;
  const double lon = s.origin.lon + p.x_m / (kMetresPerDegree * std::cos(s.origin.lat * kRad));
  return {lat, lon};
}

}  // namespace cloudlet::sim
