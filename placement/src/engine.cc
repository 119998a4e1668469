#include "cloudlet/placement/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "cloudlet/common/digest.h"
#include "mix.h"

namespace cloudlet::placement {

using internal::Mix;

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

// Pass 1 of Rank over one block: a lower bound on each row's cost (+inf where a filter rejects it),
// with the parts pass 2 needs. Plain pointers and scalars only, so that the compiler can prove
// nothing aliases and vectorise the loop.
struct BoundScalars {
  double cpu, mem, launch_s, early, overlay_bits, pipeline_floor, fetch_overhead_s, base_bits, geo_floor,
      default_rtt, service_ms, per_request, suspect_penalty;
};

__attribute__((noinline)) void LowerBounds(long len, const double* __restrict rho_now, const double* __restrict inv_cap,
                                           const double* __restrict inv_wan, const double* __restrict eligible,
                                           const double* __restrict iso, const double* __restrict free_cpu,
                                           const double* __restrict free_mem, const double* __restrict res_cpu,
                                           const double* __restrict res_mem, const double* __restrict has_geo,
                                           const double* __restrict suspect, const double* __restrict modes,
                                           const BoundScalars sc, double* __restrict b, double* __restrict fr,
                                           double* __restrict pv, double* __restrict hr) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  for (long j = 0; j < len; ++j) {
    const double rho = rho_now[j] + (sc.cpu + res_cpu[j]) * inv_cap[j];
    const bool ok = (eligible[j] > 0) & (iso[j] > 0) & (free_cpu[j] - res_cpu[j] >= sc.cpu) &
                    (free_mem[j] - res_mem[j] >= sc.mem) & (rho < 1.0);
    const double overlay_s = sc.launch_s + sc.early * std::max(sc.overlay_bits * inv_wan[j], sc.pipeline_floor);
    const double full_s = sc.fetch_overhead_s + sc.base_bits * inv_wan[j] + overlay_s;
    const double m = modes[j];
    const double prov = m == 2 ? 0.0 : (m == 1 ? overlay_s : full_s);
    const double rtt_floor = has_geo[j] > 0 ? sc.geo_floor : sc.default_rtt;
    const double room = 1.0 - std::min(rho, 0.999999);
    const double lb = rtt_floor + sc.service_ms / room + prov * sc.per_request + suspect[j] * sc.suspect_penalty;
    b[j] = ok ? lb : kInfinity;
    fr[j] = rtt_floor;
    pv[j] = prov;
    hr[j] = room;
  }
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
  f.inv_cpu_capacity = 1.0 / f.cpu_capacity.max(1.0);
  f.rho_now = f.load.max(1.0 - f.free_cpu * f.inv_cpu_capacity);
  f.inv_wan_mbps = 1.0 / f.wan_mbps.max(1e-3);
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

  const double cpu = static_cast<double>(app.cpu_millis), mem = static_cast<double>(app.mem_mb);
  const bool has_reserved = reserved.cpu_millis.size() == n && reserved.mem_mb.size() == n;
  const bool use_coordinates = coordinate_rtt_ms && coordinate_rtt_ms->size() == n;
  const ArrayXd& isolation = app.isolation == "vm" ? fleet.vm : fleet.container;
  const UnitVector client = request.client.geo ? ToUnit(*request.client.geo) : UnitVector{0, 0, 0};
  const double per_km = 2 * params_.geo.path_stretch / params_.geo.fibre_km_per_ms;
  const double pipeline_floor =
      std::max(app.overlay_mb / params_.decompress_mb_per_s, app.overlay_mb / params_.apply_delta_mb_per_s);
  const double per_request = 1000 / std::max(1.0, app.req_rate_hz * app.session_s);

  // Rows whose value a short list overrides: measurements, cached base VMs, warm placements.
  std::vector<std::pair<int, double>> measured;
  for (const auto& [id, rtt] : request.client.rtt_ms) {
    if (auto it = fleet.row_of.find(id); it != fleet.row_of.end()) measured.emplace_back(it->second, rtt);
  }
  // Provisioning mode per row for this app: 0 full, 1 overlay (base VM cached), 2 warm.
  // Per-thread scratch, reused across calls: a request allocates nothing proportional to the fleet.
  thread_local ArrayXd mode, zeros;
  thread_local std::vector<double> bound, floor_rtt, provision, headroom;
  mode.setZero(n);
  if (auto it = fleet.by_base_vm.find(app.base_vm); it != fleet.by_base_vm.end()) {
    for (int row : it->second) mode[row] = 1;
  }
  for (int row : reserved.warm_rows) {
    if (row >= 0 && row < n) mode[row] = 2;
  }

  // The best k so far; equal costs ordered by a hash of the seed, so nobody is always first.
  const size_t k = static_cast<size_t>(request.k);
  std::vector<Candidate> top;
  top.reserve(k + 1);
  auto better = [&](double cost_a, int a, const Candidate& b) {
    if (cost_a != b.cost_ms) return cost_a < b.cost_ms;
    return Mix(tie_seed ^ static_cast<uint64_t>(a)) < Mix(tie_seed ^ static_cast<uint64_t>(b.row));
  };
  Eigen::Index counts[5] = {0, 0, 0, 0, 0};  // health, isolation, cpu, memory, saturated
  bool any_sla = false, any_valid = false;
  constexpr double kInf = std::numeric_limits<double>::infinity();

  // Two passes over the snapshot's columns (structure of arrays), in cache-sized blocks:
  //  1. branch-free arithmetic over every row: a lower bound on each
  //     row's cost, +inf for rows a filter rejects. The bound is exact but for geo RTTs, which it
  //     takes as the access hop alone, so that it needs no square root.
  //  2. a scan that keeps the best k; only rows whose bound beats the k-th cost so far are costed
  //     exactly, so most rows cost one comparison.
  const bool has_client_geo = request.client.geo.has_value();
  if (!has_reserved) zeros.setZero(n);
  const double* __restrict res_cpu = has_reserved ? reserved.cpu_millis.data() : zeros.data();
  const double* __restrict res_mem = has_reserved ? reserved.mem_mb.data() : zeros.data();
  const double* __restrict coords = use_coordinates ? coordinate_rtt_ms->data() : nullptr;
  const double* __restrict rho_now = fleet.rho_now.data();
  const double* __restrict inv_cap = fleet.inv_cpu_capacity.data();
  const double* __restrict inv_wan = fleet.inv_wan_mbps.data();
  const double* __restrict eligible = fleet.eligible.data();
  const double* __restrict iso = isolation.data();
  const double* __restrict free_cpu = fleet.free_cpu.data();
  const double* __restrict free_mem = fleet.free_mem.data();
  const double* __restrict has_geo = fleet.has_geo.data();
  const double* __restrict suspect = fleet.suspect.data();
  const double* __restrict modes = mode.data();
  const double early = 1 - params_.early_start_fraction;
  const double overlay_bits = app.overlay_mb * 8, base_bits = app.base_vm_mb * 8;
  const double geo_floor = has_client_geo ? params_.geo.access_ms : params_.default_rtt_ms;
  // Locals, so that the compiler knows no store in the loop below changes them.
  const double launch_s = params_.launch_s, fetch_overhead_s = params_.base_fetch_overhead_s;
  const double default_rtt = params_.default_rtt_ms, service_ms = app.service_ms;
  const double suspect_penalty = params_.suspect_penalty_ms;
  const BoundScalars scalars{cpu,       mem,         launch_s,   early,      overlay_bits, pipeline_floor,
                             fetch_overhead_s, base_bits, geo_floor, default_rtt, service_ms, per_request,
                             suspect_penalty};
  std::sort(measured.begin(), measured.end());
  size_t next_measured = 0;  // measured rows, walked in step with the scan

  // The exact RTT of a row, and where it came from.
  auto exact_rtt = [&](Eigen::Index i) -> std::pair<double, RttSource> {
    if (next_measured < measured.size() && measured[next_measured].first == i) {
      return {measured[next_measured].second, RttSource::kMeasured};
    }
    if (coords && std::isfinite(coords[i])) return {coords[i], RttSource::kCoordinates};
    if (has_client_geo && has_geo[i] > 0) {
      const double dx = fleet.x[i] - client.x, dy = fleet.y[i] - client.y, dz = fleet.z[i] - client.z;
      const double chord = std::sqrt(dx * dx + dy * dy + dz * dz);
      return {params_.geo.access_ms + per_km * 2 * kEarthRadiusKm * std::asin(std::min(1.0, chord / 2)),
              RttSource::kGeo};
    }
    return {params_.default_rtt_ms, RttSource::kDefault};
  };

  constexpr Eigen::Index kBlock = 512;
  const size_t block_size = static_cast<size_t>(std::min(kBlock, n));
  for (auto* v : {&bound, &floor_rtt, &provision, &headroom}) v->resize(block_size);
  double threshold = kInf;
  for (Eigen::Index start = 0; start < n; start += kBlock) {
    const Eigen::Index len = std::min(kBlock, n - start);
    double* __restrict b = bound.data();
    double* __restrict fr = floor_rtt.data();
    double* __restrict pv = provision.data();
    double* __restrict hr = headroom.data();
    LowerBounds(len, rho_now + start, inv_cap + start, inv_wan + start, eligible + start, iso + start,
                free_cpu + start, free_mem + start, res_cpu + start, res_mem + start, has_geo + start, suspect + start,
                modes + start, scalars, b, fr, pv, hr);
    if (coords) {  // coordinates replace the floor where they exist
      for (Eigen::Index j = 0; j < len; ++j) {
        const double c = coords[start + j];
        if (std::isfinite(c) && b[j] != kInf) {
          b[j] += c - fr[j];
          fr[j] = c;
        }
      }
    }
    for (Eigen::Index j = 0; j < len; ++j) {  // pass 2
      const Eigen::Index i = start + j;
      while (next_measured < measured.size() && measured[next_measured].first < i) ++next_measured;
      const bool row_measured = next_measured < measured.size() && measured[next_measured].first == i;
      if (b[j] == kInf) {
        // Rejected: which filter, in order (health, isolation, cpu, memory, saturation).
        const double rho = rho_now[i] + (cpu + res_cpu[i]) * inv_cap[i];
        const int why = eligible[i] <= 0 ? 0 : iso[i] <= 0 ? 1 : free_cpu[i] - res_cpu[i] < cpu ? 2
                        : free_mem[i] - res_mem[i] < mem ? 3 : 4;
        (void)rho;
        ++counts[why];
        continue;
      }
      if (!any_sla) any_sla = app.max_rtt_ms <= 0 || exact_rtt(i).first <= app.max_rtt_ms;
      // A measured RTT may lie below the bound's floor: such rows are always costed.
      if (!row_measured) {
        if (b[j] > threshold + 1e-9) {
          any_valid = true;
          continue;
        }
        // A geo row's RTT is at least access + per_km * R * chord: compare squared chords.
        if (fr[j] == geo_floor && has_client_geo && has_geo[i] > 0 && !(coords && std::isfinite(coords[i]))) {
          const double reach = (threshold + 1e-9 - b[j]) / (per_km * kEarthRadiusKm);
          const double dx = fleet.x[i] - client.x, dy = fleet.y[i] - client.y, dz = fleet.z[i] - client.z;
          if (dx * dx + dy * dy + dz * dz > reach * reach) {
            any_valid = true;
            continue;
          }
        }
      }
      const int row = static_cast<int>(i);
      if (policy) {
        if (auto veto = policy(request, row)) {
          ++out.rejected[*veto];
          continue;
        }
      }
      any_valid = true;
      const auto [rtt, source] = exact_rtt(i);
      const double cost = b[j] - fr[j] + rtt;
      if (top.size() == k && !better(cost, row, top.back())) continue;
      Candidate cand;
      cand.row = row;
      cand.rtt_ms = rtt;
      cand.rtt_source = source;
      cand.queue_ms = app.service_ms / hr[j];
      cand.provision_s = pv[j];
      const double m = modes[i];
      cand.provision_mode = m == 2 ? ProvisionMode::kWarm : m == 1 ? ProvisionMode::kOverlay : ProvisionMode::kFull;
      cand.cost_ms = cost;
      auto at = std::upper_bound(top.begin(), top.end(), cand,
                                 [&](const Candidate& a, const Candidate& c) { return better(a.cost_ms, a.row, c); });
      top.insert(at, std::move(cand));
      if (top.size() > k) top.pop_back();
      if (top.size() == k) threshold = top.back().cost_ms;
    }
  }

  static constexpr const char* kReasons[] = {"health", "isolation", "cpu", "memory", "saturated"};
  for (int r = 0; r < 5; ++r) {
    if (counts[r] > 0) out.rejected[kReasons[r]] += static_cast<int>(counts[r]);
  }
  for (Candidate& c : top) {
    c.cloudlet_id = fleet.ids[static_cast<size_t>(c.row)];
    c.endpoint = fleet.endpoints[static_cast<size_t>(c.row)];
    c.sla_met = app.max_rtt_ms <= 0 || c.rtt_ms <= app.max_rtt_ms;
  }
  out.candidates = std::move(top);
  out.fallback = !any_valid || !any_sla;
  return out;
}

}  // namespace cloudlet::placement
