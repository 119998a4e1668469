#include "cloudlet/placement/engine.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "cloudlet/common/digest.h"

namespace cloudlet::placement {

using common::Status;
using Eigen::ArrayXd;

const char* RttSourceName(RttSource s) {
  switch (s) {
    case RttSource::kMeasured: return "measured";
    case RttSource::kCoordinates: return "coordinates";
    case RttSource::kGeo: return "geo";
    case RttSource::kDefault: return "default";
  }
  return "default";
}

const char* ProvisionModeName(ProvisionMode m) {
  switch (m) {
    case ProvisionMode::kWarm: return "warm";
    case ProvisionMode::kOverlay: return "overlay";
    case ProvisionMode::kFull: return "full";
  }
  return "full";
}

namespace {

constexpr double kEarthRadiusKm = 6371.0088;
constexpr double kRad = std::numbers::pi / 180.0;

struct UnitVector {
  double x, y, z;
};

UnitVector ToUnit(const common::GeoPoint& p) {
  return {std::cos(p.lat * kRad) * std::cos(p.lon * kRad), std::cos(p.lat * kRad) * std::sin(p.lon * kRad),
          std::sin(p.lat * kRad)};
}

// Great-circle distance from chord length c on the unit sphere: 2R asin(c/2). For the short
// distances placement cares about, a short series is exact to 1e-8 and vectorises; longer
// chords take the library's asin.
ArrayXd ChordToKm(const ArrayXd& chord) {
  const ArrayXd h = chord / 2;
  const ArrayXd h2 = h * h;
  ArrayXd s = h * (1 + h2 * (1.0 / 6 + h2 * (3.0 / 40 + h2 * (15.0 / 336))));
  for (Eigen::Index i = 0; i < h.size(); ++i) {
    if (h[i] > 0.1) s[i] = std::asin(std::min(1.0, h[i]));
  }
  return 2 * kEarthRadiusKm * s;
}

// A well-mixed 64-bit hash (splitmix64) for fair, reproducible tie-breaking.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool Finite(double v) { return std::isfinite(v); }

Status Range(const char* field, double v, double lo, double hi) {
  if (!Finite(v) || v < lo || v > hi) {
    return Status::InvalidField(field, "must be a number in [" + std::to_string(lo).substr(0, 12) + ", " +
                                           std::to_string(hi).substr(0, 12) + "]");
  }
  return Status::Ok();
}

}  // namespace

Status EngineParams::Validate() const {
  if (!(geo.fibre_km_per_ms > 0)) return Status::InvalidField("--model-fibre-km-per-ms", "must be > 0");
  if (!(geo.path_stretch >= 1)) return Status::InvalidField("--model-path-stretch", "must be >= 1");
  if (!(decompress_mb_per_s > 0)) return Status::InvalidField("--model-decompress-mb-s", "must be > 0");
  if (!(apply_delta_mb_per_s > 0)) return Status::InvalidField("--model-apply-mb-s", "must be > 0");
  if (!(early_start_fraction >= 0 && early_start_fraction <= 1)) {
    return Status::InvalidField("--model-early-start", "must be in [0, 1]");
  }
  return Status::Ok();
}

FleetSnapshot BuildSnapshot(const std::vector<CloudletState>& cloudlets) {
  FleetSnapshot f;
  const auto n = static_cast<Eigen::Index>(cloudlets.size());
  for (ArrayXd* a : {&f.x, &f.y, &f.z, &f.has_geo, &f.eligible, &f.suspect, &f.vm, &f.container, &f.cpu_capacity,
                     &f.mem_capacity, &f.free_cpu, &f.free_mem, &f.load, &f.wan_mbps}) {
    a->setZero(n);
  }
  f.ids.reserve(cloudlets.size());
  for (Eigen::Index i = 0; i < n; ++i) {
    const CloudletState& c = cloudlets[static_cast<size_t>(i)];
    f.ids.push_back(c.id);
    f.endpoints.push_back(c.endpoint);
    f.row_of[c.id] = static_cast<int>(i);
    if (c.geo) {
      const UnitVector u = ToUnit(*c.geo);
      f.x[i] = u.x;
      f.y[i] = u.y;
      f.z[i] = u.z;
      f.has_geo[i] = 1;
    }
    f.eligible[i] = c.eligible;
    f.suspect[i] = c.suspect;
    f.vm[i] = c.vm;
    f.container[i] = c.container;
    f.cpu_capacity[i] = static_cast<double>(c.cpu_capacity);
    f.mem_capacity[i] = static_cast<double>(c.mem_capacity);
    f.free_cpu[i] = static_cast<double>(c.free_cpu);
    f.free_mem[i] = static_cast<double>(c.free_mem);
    f.load[i] = c.load;
    f.wan_mbps[i] = c.wan_mbps;
    for (const auto& d : c.base_vms) f.by_base_vm[d].push_back(static_cast<int>(i));
    f.labels.push_back(c.labels);
  }
  return f;
}

Status ValidateRequest(const PlacementRequest& r) {
  const AppSpec& a = r.app;
  if (a.name.empty() || a.name.size() > 128) return Status::InvalidField("app.name", "must be 1 to 128 characters");
  if (!common::IsSha256Digest(a.base_vm)) {
    return Status::InvalidField("app.base_vm", "must be sha256:<64 lowercase hex digits>");
  }
  CLOUDLET_RETURN_IF_ERROR(Range("app.base_vm_mb", a.base_vm_mb, 0, 1e7));
  CLOUDLET_RETURN_IF_ERROR(Range("app.overlay_mb", a.overlay_mb, 0, 1e7));
  if (a.cpu_millis < 0 || a.cpu_millis > 100'000'000) return Status::InvalidField("app.cpu_millis", "must be in [0, 100000000]");
  if (a.mem_mb < 0 || a.mem_mb > 1'000'000'000) return Status::InvalidField("app.mem_mb", "must be in [0, 1000000000]");
  if (a.isolation != "vm" && a.isolation != "container") return Status::InvalidField("app.isolation", "must be vm or container");
  CLOUDLET_RETURN_IF_ERROR(Range("app.service_ms", a.service_ms, 0, 1e6));
  CLOUDLET_RETURN_IF_ERROR(Range("app.req_rate_hz", a.req_rate_hz, 0, 1e6));
  CLOUDLET_RETURN_IF_ERROR(Range("app.session_s", a.session_s, 0, 1e8));
  CLOUDLET_RETURN_IF_ERROR(Range("app.max_rtt_ms", a.max_rtt_ms, 0, 1e6));
  if (r.k < 1 || r.k > 100) return Status::InvalidField("k", "must be in [1, 100]");
  if (r.client.geo && !common::IsValidGeo(*r.client.geo)) {
    return Status::InvalidField("client.geo", "lat must be in [-90, 90] and lon in [-180, 180]");
  }
  if (r.client.rtt_ms.size() > 1000) return Status::InvalidField("client.rtt_ms", "at most 1000 entries");
  for (const auto& [id, rtt] : r.client.rtt_ms) {
    if (!Finite(rtt) || rtt < 0 || rtt > 100'000) {
      return Status::InvalidField("client.rtt_ms." + id.substr(0, 64), "must be a number in [0, 100000]");
    }
  }
  return Status::Ok();
}

double Engine::ProvisionSeconds(ProvisionMode mode, const AppSpec& app, double wan_mbps) const {
  if (mode == ProvisionMode::kWarm) return 0;
  const double wan = std::max(wan_mbps, 1e-3);
  const double pipeline_s = std::max({app.overlay_mb * 8 / wan, app.overlay_mb / params_.decompress_mb_per_s,
                                      app.overlay_mb / params_.apply_delta_mb_per_s});
  const double overlay_s = params_.launch_s + (1 - params_.early_start_fraction) * pipeline_s;
  if (mode == ProvisionMode::kOverlay) return overlay_s;
  return params_.base_fetch_overhead_s + app.base_vm_mb * 8 / wan + overlay_s;
}

common::Result<Ranking> Engine::Rank(const FleetSnapshot& fleet, const PlacementRequest& request,
                                     const Reservations& reserved, uint64_t tie_seed,
                                     const ArrayXd* coordinate_rtt_ms, const Policy& policy) const {
  CLOUDLET_RETURN_IF_ERROR(ValidateRequest(request));
  const AppSpec& app = request.app;
  const auto n = static_cast<Eigen::Index>(fleet.size());
  Ranking out;
  if (n == 0) {
    out.fallback = true;
    return out;
  }

  // Capacity left after what is reserved but not yet in the heartbeats.
  const ArrayXd res_cpu = reserved.cpu_millis.size() == n ? reserved.cpu_millis : ArrayXd::Zero(n);
  const ArrayXd res_mem = reserved.mem_mb.size() == n ? reserved.mem_mb : ArrayXd::Zero(n);
  const ArrayXd free_cpu = fleet.free_cpu - res_cpu;
  const ArrayXd free_mem = fleet.free_mem - res_mem;
  const ArrayXd capacity = fleet.cpu_capacity.max(1.0);
  // Utilisation after adding the app: the busier of reported load and capacity in use, plus what is
  // reserved and what this app brings.
  const ArrayXd rho = fleet.load.max(1.0 - fleet.free_cpu / capacity) + (res_cpu + app.cpu_millis) / capacity;

  // Filters, in order; each rejected row counts once, under the first reason that applies.
  const ArrayXd& isolation_ok = app.isolation == "vm" ? fleet.vm : fleet.container;
  const double cpu = static_cast<double>(app.cpu_millis), mem = static_cast<double>(app.mem_mb);
  std::vector<int> rows;
  rows.reserve(static_cast<size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    const char* reason = nullptr;
    if (fleet.eligible[i] == 0) reason = "health";
    else if (isolation_ok[i] == 0) reason = "isolation";
    else if (free_cpu[i] < cpu) reason = "cpu";
    else if (free_mem[i] < mem) reason = "memory";
    else if (rho[i] >= 1.0) reason = "saturated";
    if (reason) {
      ++out.rejected[reason];
      continue;
    }
    if (policy) {
      if (auto veto = policy(request, static_cast<int>(i))) {
        ++out.rejected[*veto];
        continue;
      }
    }
    rows.push_back(static_cast<int>(i));
  }

  // Round-trip time: geo for every row at once, then coordinates, then the client's measurements.
  ArrayXd rtt = ArrayXd::Constant(n, params_.default_rtt_ms);
  std::vector<RttSource> source(static_cast<size_t>(n), RttSource::kDefault);
  if (request.client.geo) {
    const UnitVector c = ToUnit(*request.client.geo);
    const ArrayXd dx = fleet.x - c.x, dy = fleet.y - c.y, dz = fleet.z - c.z;
    const ArrayXd km = ChordToKm((dx * dx + dy * dy + dz * dz).sqrt());
    const ArrayXd geo_rtt = params_.geo.access_ms + 2 * km * params_.geo.path_stretch / params_.geo.fibre_km_per_ms;
    rtt = (fleet.has_geo > 0).select(geo_rtt, rtt);
    for (Eigen::Index i = 0; i < n; ++i) {
      if (fleet.has_geo[i] > 0) source[static_cast<size_t>(i)] = RttSource::kGeo;
    }
  }
  if (coordinate_rtt_ms && coordinate_rtt_ms->size() == n) {
    for (Eigen::Index i = 0; i < n; ++i) {
      if (std::isfinite((*coordinate_rtt_ms)[i])) {
        rtt[i] = (*coordinate_rtt_ms)[i];
        source[static_cast<size_t>(i)] = RttSource::kCoordinates;
      }
    }
  }
  for (const auto& [id, measured] : request.client.rtt_ms) {
    auto it = fleet.row_of.find(id);
    if (it == fleet.row_of.end()) continue;
    rtt[it->second] = measured;
    source[static_cast<size_t>(it->second)] = RttSource::kMeasured;
  }

  // Queueing (M/M/1) and provisioning, for every row; rows failing a filter are ignored below.
  const ArrayXd queue = app.service_ms / (1.0 - rho.min(0.999999));
  const ArrayXd wan = fleet.wan_mbps.max(1e-3);
  const ArrayXd pipeline_s = (app.overlay_mb * 8 / wan).max(std::max(app.overlay_mb / params_.decompress_mb_per_s,
                                                                       app.overlay_mb / params_.apply_delta_mb_per_s));
  const ArrayXd overlay_s = params_.launch_s + (1 - params_.early_start_fraction) * pipeline_s;
  const ArrayXd full_s = params_.base_fetch_overhead_s + app.base_vm_mb * 8 / wan + overlay_s;
  ArrayXd provision_s = full_s;
  std::vector<ProvisionMode> mode(static_cast<size_t>(n), ProvisionMode::kFull);
  if (auto it = fleet.by_base_vm.find(app.base_vm); it != fleet.by_base_vm.end()) {
    for (int row : it->second) {
      provision_s[row] = overlay_s[row];
      mode[static_cast<size_t>(row)] = ProvisionMode::kOverlay;
    }
  }
  for (int row : reserved.warm_rows) {
    if (row < 0 || row >= n) continue;
    provision_s[row] = 0;
    mode[static_cast<size_t>(row)] = ProvisionMode::kWarm;
  }
  const double requests = std::max(1.0, app.req_rate_hz * app.session_s);
  const ArrayXd cost = rtt + queue + provision_s * 1000 / requests + fleet.suspect * params_.suspect_penalty_ms;

  // The best k: by cost, equal costs in an order drawn from the seed (so nobody is always first).
  const size_t k = std::min(rows.size(), static_cast<size_t>(request.k));
  auto better = [&](int a, int b) {
    if (cost[a] != cost[b]) return cost[a] < cost[b];
    return Mix(tie_seed ^ static_cast<uint64_t>(a)) < Mix(tie_seed ^ static_cast<uint64_t>(b));
  };
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(k), rows.end(), better);
  bool any_sla = false;
  for (int row : rows) {
    if (app.max_rtt_ms <= 0 || rtt[row] <= app.max_rtt_ms) {
      any_sla = true;
      break;
    }
  }
  for (size_t i = 0; i < k; ++i) {
    const int row = rows[i];
    Candidate c;
    c.cloudlet_id = fleet.ids[static_cast<size_t>(row)];
    c.endpoint = fleet.endpoints[static_cast<size_t>(row)];
    c.row = row;
    c.rtt_ms = rtt[row];
    c.rtt_source = source[static_cast<size_t>(row)];
    c.queue_ms = queue[row];
    c.provision_mode = mode[static_cast<size_t>(row)];
    c.provision_s = provision_s[row];
    c.cost_ms = cost[row];
    c.sla_met = app.max_rtt_ms <= 0 || c.rtt_ms <= app.max_rtt_ms;
    out.candidates.push_back(std::move(c));
  }
  out.fallback = !any_sla;
  return out;
}

}  // namespace cloudlet::placement
