#include "cloudlet/placement/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

using common::UnitVector;

// What pass 1 of a ranking needs besides the columns: per-request scalars, hoisted so that the
// loop body holds no division and nothing the compiler must reload.
struct BoundScalars {
  double cpu, mem;  // what the app asks for
  double launch_s, visible_share, overlay_bits, pipeline_floor_s, fetch_overhead_s, base_bits;  // synthesis
  double geo_floor, default_rtt, service_ms, amortisation_ms_per_s, suspect_penalty;
};

// One row's inputs to pass 1 and what it finds: a lower bound on the row's cost (+inf where a
// filter rejects it) and the parts pass 2 needs.
struct RowIn {
  double rho_now, inv_cap, inv_wan, launch, eligible, iso, free_cpu, free_mem, res_cpu, res_mem, has_geo, suspect, mode;
};
struct RowBound {
  double bound, floor_rtt, provision, headroom;
};

// Pass 1's arithmetic for one row: cost_model.h's inline functions (QueueMsAt's denominator,
// OverlaySecondsOf, FullSecondsOf, the amortisation) applied to scalars hoisted once per request.
// Branch-free, and always inlined: in LowerBounds' loop it vectorises; alone it costs one row.
[[gnu::always_inline]] inline RowBound BoundRow(const RowIn& r, const BoundScalars& sc) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  const double rho = r.rho_now + (sc.cpu + r.res_cpu) * r.inv_cap;
  const bool ok = (r.eligible > 0) & (r.iso > 0) & (r.free_cpu - r.res_cpu >= sc.cpu) & (r.free_mem - r.res_mem >= sc.mem) &
                  (rho < 1.0);
  const double launch_s = r.launch >= 0 ? r.launch : sc.launch_s;
  const double overlay_s = OverlaySecondsOf(launch_s, sc.visible_share, sc.overlay_bits * r.inv_wan, sc.pipeline_floor_s);
  const double full_s = FullSecondsOf(sc.fetch_overhead_s, sc.base_bits * r.inv_wan, overlay_s);
  const double prov = r.mode == 2 ? 0.0 : (r.mode == 1 ? overlay_s : full_s);
  const double rtt_floor = r.has_geo > 0 ? sc.geo_floor : sc.default_rtt;
  const double room = 1.0 - std::min(rho, kMaxUtilisation);  // QueueMsAt's denominator, kept for pass 2
  const double lb = rtt_floor + sc.service_ms / room + prov * sc.amortisation_ms_per_s + r.suspect * sc.suspect_penalty;
  return {ok ? lb : kInfinity, rtt_floor, prov, room};
}

// Pass 1 of a ranking over one block. It must stay one straight loop over plain pointers and
// scalars, so that the compiler can prove nothing aliases and vectorise it.
__attribute__((noinline)) void LowerBounds(long len, const double* __restrict rho_now, const double* __restrict inv_cap,
                                           const double* __restrict inv_wan, const double* __restrict launch,
                                           const double* __restrict eligible,
                                           const double* __restrict iso, const double* __restrict free_cpu,
                                           const double* __restrict free_mem, const double* __restrict res_cpu,
                                           const double* __restrict res_mem, const double* __restrict has_geo,
                                           const double* __restrict suspect, const double* __restrict modes,
                                           const BoundScalars sc, double* __restrict b, double* __restrict fr,
                                           double* __restrict pv, double* __restrict hr) {
  for (long j = 0; j < len; ++j) {
    const RowBound o = BoundRow({rho_now[j], inv_cap[j], inv_wan[j], launch[j], eligible[j], iso[j], free_cpu[j], free_mem[j],
                                 res_cpu[j], res_mem[j], has_geo[j], suspect[j], modes[j]},
                                sc);
    b[j] = o.bound;
    fr[j] = o.floor_rtt;
    pv[j] = o.provision;
    hr[j] = o.headroom;
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
  if (!(geo.fibre_km_per_ms > 0)) return Status::InvalidField("geo.fibre_km_per_ms", "must be > 0");
  if (!(geo.path_stretch >= 1)) return Status::InvalidField("geo.path_stretch", "must be >= 1");
  if (!(synthesis.decompress_mb_per_s > 0)) return Status::InvalidField("synthesis.decompress_mb_per_s", "must be > 0");
  if (!(synthesis.apply_delta_mb_per_s > 0)) return Status::InvalidField("synthesis.apply_delta_mb_per_s", "must be > 0");
  if (!(synthesis.early_start_fraction >= 0 && synthesis.early_start_fraction <= 1)) {
    return Status::InvalidField("synthesis.early_start_fraction", "must be in [0, 1]");
  }
  // Costs only grow with each term: the engine's bounds rely on it.
  if (!(synthesis.launch_s >= 0)) return Status::InvalidField("synthesis.launch_s", "must be >= 0");
  if (!(synthesis.base_fetch_overhead_s >= 0)) return Status::InvalidField("synthesis.base_fetch_overhead_s", "must be >= 0");
  if (!(suspect_penalty_ms >= 0)) return Status::InvalidField("suspect_penalty_ms", "must be >= 0");
  if (!(geo.access_ms >= 0)) return Status::InvalidField("geo.access_ms", "must be >= 0");
  return Status::Ok();
}

namespace {

// The snapshot's spatial index: shared with `previous` when every row sits where it sat there.
void IndexPositions(FleetSnapshot& f, const FleetSnapshot* previous) {
  if (f.size() < kSpatialRows) return;
  if (previous && previous->geo_index && previous->size() == f.size() && (previous->has_geo == f.has_geo).all() &&
      (previous->x == f.x).all() && (previous->y == f.y).all() && (previous->z == f.z).all()) {
    f.geo_index = previous->geo_index;
    f.no_geo_rows = previous->no_geo_rows;
    return;
  }
  std::vector<common::SphereIndex::Item> items;
  items.reserve(f.size());
  for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(f.size()); ++i) {
    if (f.has_geo[i] > 0) items.push_back({{f.x[i], f.y[i], f.z[i]}, static_cast<int32_t>(i)});
    else f.no_geo_rows.push_back(static_cast<int>(i));
  }
  f.geo_index = std::make_shared<const common::SphereIndex>(std::move(items));
}

void SlotCommonBaseVms(FleetSnapshot& f) {
  if (!f.geo_index) return;
  std::vector<std::pair<size_t, const std::string*>> common;
  for (const auto& [digest, rows] : f.by_base_vm) {
    if (rows.size() * 32 >= f.size()) common.emplace_back(rows.size(), &digest);
  }
  std::sort(common.begin(), common.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  if (common.size() > 64) common.resize(64);
  for (const auto& [count, digest] : common) {
    const int slot = static_cast<int>(f.common_bits.size());
    f.common_base_vm[*digest] = slot;
    auto& bits = f.common_bits.emplace_back((f.size() + 63) / 64, 0);
    for (int row : f.by_base_vm.at(*digest)) bits[static_cast<size_t>(row) / 64] |= uint64_t{1} << (row % 64);
  }
}

// The node floors, from the leaves up (children come after their parent).
void FloorNodes(FleetSnapshot& f) {
  if (!f.geo_index) return;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const auto nodes = f.geo_index->nodes();
  const auto items = f.geo_index->items();
  f.node_floors.assign(nodes.size(), {kInf, 1, kInf, kInf, false, 0});
  for (size_t k = nodes.size(); k-- > 0;) {
    const auto& n = nodes[k];
    FleetSnapshot::NodeFloor& fl = f.node_floors[k];
    if (n.left < 0) {
      for (int32_t i = n.begin; i < n.end; ++i) {
        const Eigen::Index row = items[static_cast<size_t>(i)].row;
        fl.rho_min = std::min(fl.rho_min, f.rho_now[row]);
        fl.inv_wan_min = std::min(fl.inv_wan_min, f.inv_wan_mbps[row]);
        if (f.launch_s[row] >= 0) fl.launch_min = std::min(fl.launch_min, f.launch_s[row]);
        else fl.model_launch = true;
        for (size_t slot = 0; slot < f.common_bits.size(); ++slot) {
          if ((f.common_bits[slot][static_cast<size_t>(row) / 64] >> (row % 64)) & 1) fl.cached |= uint64_t{1} << slot;
        }
      }
    } else {
      for (int32_t c : {n.left, n.right}) {
        const auto& child = f.node_floors[static_cast<size_t>(c)];
        fl.rho_min = std::min(fl.rho_min, child.rho_min);
        fl.inv_wan_min = std::min(fl.inv_wan_min, child.inv_wan_min);
        fl.launch_min = std::min(fl.launch_min, child.launch_min);
        fl.model_launch = fl.model_launch || child.model_launch;
        fl.cached |= child.cached;
      }
    }
    fl.inv_room = 1.0 / (1.0 - std::min(fl.rho_min, kMaxUtilisation));
  }
}

}  // namespace

FleetSnapshot BuildSnapshot(const std::vector<CloudletState>& cloudlets, const FleetSnapshot* previous) {
  FleetSnapshot f;
  const auto n = static_cast<Eigen::Index>(cloudlets.size());
  for (ArrayXd* a : {&f.x, &f.y, &f.z, &f.has_geo, &f.eligible, &f.suspect, &f.vm, &f.container, &f.cpu_capacity,
                     &f.mem_capacity, &f.free_cpu, &f.free_mem, &f.load, &f.wan_mbps, &f.observed}) {
    a->setZero(n);
  }
  f.launch_s.setConstant(n, -1);
  f.ids.reserve(cloudlets.size());
  for (Eigen::Index i = 0; i < n; ++i) {
    const CloudletState& c = cloudlets[static_cast<size_t>(i)];
    f.ids.push_back(c.id);
    f.endpoints.push_back(c.endpoint);
    f.row_of[c.id] = static_cast<int>(i);
    if (c.geo) {
      const UnitVector u = common::ToUnitVector(*c.geo);
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
    f.launch_s[i] = c.launch_s;
    f.observed[i] = c.observed;
    for (const auto& d : c.base_vms) f.by_base_vm[d].push_back(static_cast<int>(i));
    f.labels.push_back(c.labels);
  }
  f.inv_cpu_capacity = 1.0 / f.cpu_capacity.max(1.0);
  f.rho_now = f.load.max(1.0 - f.free_cpu * f.inv_cpu_capacity);
  f.inv_wan_mbps = 1.0 / f.wan_mbps.max(1e-3);  // InverseRate, per column
  IndexPositions(f, previous);
  SlotCommonBaseVms(f);
  FloorNodes(f);
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
  CLOUDLET_RETURN_IF_ERROR(ValidateWorkload(a.workload));
  if (!a.workload.image.empty() && a.isolation != "container") {
    return Status::InvalidField("app.image", "runs in a container: set app.isolation to \"container\"");
  }
  if (!a.workload.overlay_url.empty() && a.isolation != "vm") {
    return Status::InvalidField("app.overlay_url", "runs in a VM: set app.isolation to \"vm\"");
  }
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
  const double inv_wan_mbps = InverseRate(wan_mbps);
  const double overlay_s = params_.synthesis.OverlaySeconds(app.overlay_mb, inv_wan_mbps);
  if (mode == ProvisionMode::kOverlay) return overlay_s;
  return params_.synthesis.FullSeconds(app.base_vm_mb, inv_wan_mbps, overlay_s);
}

namespace {

// Per-thread scratch, reused across calls: a request allocates nothing proportional to the fleet.
struct Scratch {
  ArrayXd mode, zeros;
  std::vector<Candidate> top;  // the best k so far, best first
  std::vector<double> bound, floor_rtt, provision, headroom;
  std::vector<uint8_t> coord_ok;  // 1 where the row's RTT comes from network coordinates
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// What pass 1 found for one row: its bound, and the parts that make its exact cost.
struct RowParts {
  double bound = 0, floor_rtt = 0, provision = 0, headroom = 1, mode = 0;
  bool coord_ok = false;
};

// One call of Engine::Rank, in steps. Without a spatial index (small fleets) or a client position,
// two passes over the snapshot's columns (structure of arrays), in cache-sized blocks:
//  1. LowerBounds: branch-free arithmetic over every row, a lower bound on each row's cost, +inf
//     for rows a filter rejects. The bound is exact but for geo RTTs, which it takes as the access
//     hop alone, so that it needs no square root.
//  2. Scan: keeps the best k; only rows whose bound beats the k-th cost so far are costed exactly,
//     so most rows cost one comparison.
// With both, the rows are visited nearest first through the index (RunSpatial): a row's RTT is at
// least what its distance allows, so once the k-th best cost is known, every cloudlet farther than
// that cost allows is skipped without being read. The rows the index cannot bound (measured by the
// client, without a position, or warm) are costed first.
class Ranker {
 public:
  Ranker(const EngineParams& params, const FleetSnapshot& fleet, const PlacementRequest& request,
         const Reservations& reserved, uint64_t tie_seed, const ArrayXd* coordinate_rtt_ms, const Policy& policy)
      : params_(params), fleet_(fleet), request_(request), app_(request.app), reserved_(reserved), tie_seed_(tie_seed),
        policy_(policy), n_(static_cast<Eigen::Index>(fleet.size())), k_(static_cast<size_t>(request.k)),
        coords_(coordinate_rtt_ms && coordinate_rtt_ms->size() == n_ ? coordinate_rtt_ms->data() : nullptr),
        has_client_geo_(request.client.geo.has_value()),
        client_(has_client_geo_ ? common::ToUnitVector(*request.client.geo) : UnitVector{}),
        scratch_(ThreadScratch()), top_(scratch_.top) {
    top_.clear();
  }

  Ranking Run() {
    PrepareRequest();
    if (Spatial()) {
      RunSpatial();
      // Whether any cloudlet meets the SLA is a question about every row: when none of those
      // examined does, a full pass answers it (rare: then nothing near enough is fit).
      if (any_sla_ || pruned_ == 0) return Finish();
      Reset();
    }
    RunFull();
    return Finish();
  }

  // One row alone, as the full pass with every other row vetoed would rank it.
  Ranking RunOne(int row) {
    PrepareRequest();
    VisitOne(row);
    return Finish();
  }

  // The best candidate only (k is 1), or with `row` >= 0 that row alone: the same winner as Run
  // and RunOne, without the counts and ids they report (and so without the full pass that only
  // answers whether any cloudlet meets the SLA).
  std::optional<Candidate> RunBest(int row) {
    PrepareRequest();
    if (row >= 0) VisitOne(row);
    else if (Spatial()) RunSpatial();
    else RunFull();
    if (top_.empty()) return std::nullopt;
    Candidate best = top_.front();
    best.sla_met = app_.max_rtt_ms <= 0 || best.rtt_ms <= app_.max_rtt_ms;
    return best;
  }

 private:
  // Whether the spatial search applies: an index, a client position, and most rows in the index.
  bool Spatial() const {
    return fleet_.geo_index && has_client_geo_ && 2 * fleet_.no_geo_rows.size() <= static_cast<size_t>(n_);
  }

  void VisitOne(int row) {
    SortWarm();
    if (row < 0 || row >= n_) return;
    auto m = std::lower_bound(measured_.begin(), measured_.end(), std::pair<int, double>(row, -kInf),
                              [](const auto& a, const auto& b) { return a.first < b.first; });
    const bool measured = m != measured_.end() && m->first == row;
    Visit(row, measured, static_cast<size_t>(m - measured_.begin()));
  }

  // What every path needs: the measured rows (those below the physical floor set aside), the
  // reservations and the scalars of pass 1.
  void PrepareRequest() {
    for (const auto& [id, rtt] : request_.client.rtt_ms) {
      auto it = fleet_.row_of.find(id);
      if (it == fleet_.row_of.end()) continue;
      if (const double floor = PhysicalFloorMs(it->second); rtt < floor) {
        NoteImplausible(it->second, RttSource::kMeasured, rtt, floor);
        continue;
      }
      measured_.emplace_back(it->second, rtt);
    }
    std::sort(measured_.begin(), measured_.end());
    implausible_measured_ = out_.implausible_count;
    const bool has_reserved = reserved_.cpu_millis.size() == n_ && reserved_.mem_mb.size() == n_;
    res_cpu_ = has_reserved ? reserved_.cpu_millis.data() : nullptr;
    res_mem_ = has_reserved ? reserved_.mem_mb.data() : nullptr;
    iso_ = (app_.isolation == "vm" ? fleet_.vm : fleet_.container).data();
    per_km_ = params_.geo.PerKmMs();
    geo_floor_ = has_client_geo_ ? params_.geo.access_ms : params_.default_rtt_ms;
    scalars_ = {.cpu = static_cast<double>(app_.cpu_millis),
                .mem = static_cast<double>(app_.mem_mb),
                .launch_s = params_.synthesis.launch_s,
                .visible_share = params_.synthesis.VisibleShare(),
                .overlay_bits = app_.overlay_mb * 8,
                .pipeline_floor_s = params_.synthesis.PipelineFloorS(app_.overlay_mb),
                .fetch_overhead_s = params_.synthesis.base_fetch_overhead_s,
                .base_bits = app_.base_vm_mb * 8,
                .geo_floor = geo_floor_,
                .default_rtt = params_.default_rtt_ms,
                .service_ms = app_.service_ms,
                .amortisation_ms_per_s = AmortisationMsPerS(app_.req_rate_hz, app_.session_s),
                .suspect_penalty = params_.suspect_penalty_ms};
    if (auto it = fleet_.by_base_vm.find(app_.base_vm); it != fleet_.by_base_vm.end()) overlay_rows_ = &it->second;
    if (auto it = fleet_.common_base_vm.find(app_.base_vm); it != fleet_.common_base_vm.end()) {
      common_slot_ = it->second;
      overlay_bits_ = fleet_.common_bits[static_cast<size_t>(it->second)].data();
    }
  }

  // Back to the state after PrepareRequest, for a full pass after a spatial one.
  void Reset() {
    top_.clear();
    threshold_ = kInf;
    std::fill(std::begin(counts_), std::end(counts_), 0);
    any_sla_ = any_valid_ = false;
    next_measured_ = 0;
    visited_ = pruned_ = 0;
    out_.rejected.clear();
    out_.implausible_count = implausible_measured_;
    if (out_.implausible.size() > static_cast<size_t>(implausible_measured_)) out_.implausible.resize(static_cast<size_t>(implausible_measured_));
  }

  // ---- The full pass ----

  // Provisioning mode per row for this app (0 full, 1 overlay: base VM cached, 2 warm), then the
  // blocks.
  void RunFull() {
    ArrayXd& mode = scratch_.mode;
    mode.setZero(n_);
    if (overlay_rows_) {
      for (int row : *overlay_rows_) mode[row] = 1;
    }
    for (int row : reserved_.warm_rows) {
      if (row >= 0 && row < n_) mode[row] = 2;
    }
    if (!res_cpu_) {
      scratch_.zeros.setZero(n_);
      res_cpu_ = res_mem_ = scratch_.zeros.data();
    }
    constexpr Eigen::Index kBlock = 512;
    const size_t block_size = static_cast<size_t>(std::min(kBlock, n_));
    for (auto* v : {&scratch_.bound, &scratch_.floor_rtt, &scratch_.provision, &scratch_.headroom}) v->resize(block_size);
    scratch_.coord_ok.resize(block_size);
    for (Eigen::Index start = 0; start < n_; start += kBlock) {
      const Eigen::Index len = std::min(kBlock, n_ - start);
      Bound(start, len);
      Scan(start, len);
    }
    visited_ = n_;
  }

  // Pass 1 over rows [start, start + len); coordinates replace the geo floor where they exist.
  void Bound(Eigen::Index start, Eigen::Index len) {
    double* b = scratch_.bound.data();
    double* fr = scratch_.floor_rtt.data();
    LowerBounds(len, fleet_.rho_now.data() + start, fleet_.inv_cpu_capacity.data() + start,
                fleet_.inv_wan_mbps.data() + start, fleet_.launch_s.data() + start, fleet_.eligible.data() + start, iso_ + start,
                fleet_.free_cpu.data() + start, fleet_.free_mem.data() + start, res_cpu_ + start, res_mem_ + start,
                fleet_.has_geo.data() + start, fleet_.suspect.data() + start, scratch_.mode.data() + start, scalars_, b,
                fr, scratch_.provision.data(), scratch_.headroom.data());
    if (!coords_) return;
    for (Eigen::Index j = 0; j < len; ++j) scratch_.coord_ok[static_cast<size_t>(j)] = UseCoordinates(start + j, b[j], fr[j]);
  }

  // Pass 2 over rows [start, start + len): one loop over locals (the fast path holds no member
  // loads), as most rows cost one or two comparisons. A geo row's RTT is at least access + per_km
  // * R * chord: rows too far to enter are dismissed through squared chords, with no square root.
  void Scan(Eigen::Index start, Eigen::Index len) {
    const double* b = scratch_.bound.data();
    const double* fr = scratch_.floor_rtt.data();
    const uint8_t* coord_ok = coords_ ? scratch_.coord_ok.data() : nullptr;
    const double *x = fleet_.x.data(), *y = fleet_.y.data(), *z = fleet_.z.data(), *has_geo = fleet_.has_geo.data();
    const UnitVector client = client_;
    const bool client_geo = has_client_geo_;
    const double geo_floor = geo_floor_, per_km_r = per_km_ * common::kEarthRadiusKm;
    double threshold = threshold_;
    bool any_valid = any_valid_, any_sla = any_sla_;
    size_t next = next_measured_;  // measured rows are walked in step with the scan
    const size_t n_measured = measured_.size();
    for (Eigen::Index j = 0; j < len; ++j) {
      const Eigen::Index i = start + j;
      while (next < n_measured && measured_[next].first < i) ++next;
      const bool row_measured = next < n_measured && measured_[next].first == i;
      if (b[j] == kInf) {
        Reject(i);
        continue;
      }
      const bool by_coords = coord_ok && coord_ok[j];
      if (!any_sla) any_sla = app_.max_rtt_ms <= 0 || ExactRtt(i, row_measured, next, by_coords).first <= app_.max_rtt_ms;
      if (!row_measured) {  // a measured RTT may lie below the bound's floor: such rows are always costed
        if (b[j] > threshold + 1e-9) {
          any_valid = true;
          continue;
        }
        if (fr[j] == geo_floor && client_geo && has_geo[i] > 0 && !by_coords) {
          const double reach = (threshold + 1e-9 - b[j]) / per_km_r;
          const double dx = x[i] - client.x, dy = y[i] - client.y, dz = z[i] - client.z;
          if (dx * dx + dy * dy + dz * dz > reach * reach) {
            any_valid = true;
            continue;
          }
        }
      }
      if (Vetoed(i)) continue;
      any_valid = true;
      const RowParts parts{b[j], fr[j], scratch_.provision[static_cast<size_t>(j)], scratch_.headroom[static_cast<size_t>(j)],
                           scratch_.mode[i], by_coords};
      threshold = Consider(i, parts, ExactRtt(i, row_measured, next, by_coords));
    }
    threshold_ = threshold;
    any_valid_ = any_valid;
    any_sla_ = any_sla;
    next_measured_ = next;
  }

  // ---- The spatial search ----

  void SortWarm() {
    warm_.clear();
    for (int row : reserved_.warm_rows) {
      if (row >= 0 && row < n_) warm_.push_back(row);
    }
    std::sort(warm_.begin(), warm_.end());
    warm_.erase(std::unique(warm_.begin(), warm_.end()), warm_.end());
  }

  void RunSpatial() {
    SortWarm();
    for (size_t m = 0; m < measured_.size(); ++m) Visit(measured_[m].first, true, m);
    for (int row : fleet_.no_geo_rows) {
      if (!IsMeasured(row)) Visit(row, false, 0);
    }
    for (int row : warm_) {
      if (fleet_.has_geo[row] > 0 && !IsMeasured(row)) Visit(row, false, 0);
    }
    // Every other row's RTT is at least `rate` per unit of chord (the model's rate for geo
    // estimates; for coordinates at least the physical one, as those below it are set aside); its
    // queue and provisioning at least what the best row under the node offers (no row there is
    // warm).
    const double rate = (coords_ ? params_.geo.PhysicalPerKmMs() : per_km_) * common::kEarthRadiusKm;
    const double access = coords_ ? 0.0 : params_.geo.access_ms;
    const BoundScalars& sc = scalars_;
    // A node where no row can cache the base VM provisions it in full: known when the base VM is
    // cached nowhere, or is common (a bit per node); for a rarely cached one, an overlay is assumed.
    const bool cached_anywhere = overlay_rows_ != nullptr;
    auto bound = [&](int32_t node, double chord2) __attribute__((always_inline)) {
      const FleetSnapshot::NodeFloor& fl = fleet_.node_floors[static_cast<size_t>(node)];
      const double launch_s = std::min(fl.launch_min, fl.model_launch ? sc.launch_s : kInf);
      const double overlay_s = OverlaySecondsOf(launch_s, sc.visible_share, sc.overlay_bits * fl.inv_wan_min, sc.pipeline_floor_s);
      const bool may_cache = common_slot_ >= 0 ? ((fl.cached >> common_slot_) & 1) != 0 : cached_anywhere;
      const double provision_s = may_cache ? overlay_s : FullSecondsOf(sc.fetch_overhead_s, sc.base_bits * fl.inv_wan_min, overlay_s);
      return access + rate * std::sqrt(chord2) + sc.service_ms * fl.inv_room + provision_s * sc.amortisation_ms_per_s;
    };
    auto leaf = [&](std::span<const common::SphereIndex::Item> items) {
      for (const auto& item : items) {
        if (!IsMeasured(item.row) && !std::binary_search(warm_.begin(), warm_.end(), item.row)) Visit(item.row, false, 0);
      }
      return threshold_ == kInf ? common::SphereIndex::kNoLimit : threshold_ + 1e-9;
    };
    // For the best one alone, depth first is cheaper (no heap; measured on a city's fleet: a third
    // less time per decision); for several, best first visits fewer leaves.
    if (k_ == 1) fleet_.geo_index->Descend(client_, bound, leaf);
    else fleet_.geo_index->Search(client_, bound, leaf);
    pruned_ = n_ - visited_;
  }

  // The full pass's treatment of one row, for a row the search reached.
  void Visit(Eigen::Index i, bool measured, size_t m) {
    ++visited_;
    const RowParts parts = PartsOf(i);
    if (parts.bound == kInf) return Reject(i);
    if (!any_sla_) any_sla_ = app_.max_rtt_ms <= 0 || ExactRtt(i, measured, m, parts.coord_ok).first <= app_.max_rtt_ms;
    if (!measured && parts.bound > threshold_ + 1e-9) {
      any_valid_ = true;
      return;
    }
    // As in Scan: too far for its distance alone to let it in, without the square root.
    if (!measured && !parts.coord_ok && has_client_geo_ && fleet_.has_geo[i] > 0 && threshold_ != kInf) {
      const double reach = (threshold_ + 1e-9 - parts.bound) / (per_km_ * common::kEarthRadiusKm);
      const double dx = fleet_.x[i] - client_.x, dy = fleet_.y[i] - client_.y, dz = fleet_.z[i] - client_.z;
      if (dx * dx + dy * dy + dz * dz > reach * reach) {
        any_valid_ = true;
        return;
      }
    }
    if (Vetoed(i)) return;
    any_valid_ = true;
    threshold_ = Consider(i, parts, ExactRtt(i, measured, m, parts.coord_ok));
  }

  // Pass 1 for one row: the same kernel, on the row alone.
  RowParts PartsOf(Eigen::Index i) {
    RowParts p;
    p.mode = std::binary_search(warm_.begin(), warm_.end(), static_cast<int>(i)) ? 2 : Cached(static_cast<int>(i)) ? 1 : 0;
    const RowBound o = BoundRow({fleet_.rho_now[i], fleet_.inv_cpu_capacity[i], fleet_.inv_wan_mbps[i], fleet_.launch_s[i],
                                 fleet_.eligible[i], iso_[i], fleet_.free_cpu[i], fleet_.free_mem[i], res_cpu_ ? res_cpu_[i] : 0,
                                 res_mem_ ? res_mem_[i] : 0, fleet_.has_geo[i], fleet_.suspect[i], p.mode},
                                scalars_);
    p.bound = o.bound;
    p.floor_rtt = o.floor_rtt;
    p.provision = o.provision;
    p.headroom = o.headroom;
    if (coords_) p.coord_ok = UseCoordinates(i, p.bound, p.floor_rtt);
    return p;
  }

  // Whether row caches the app's base VM.
  bool Cached(int row) const {
    if (overlay_bits_) return (overlay_bits_[static_cast<size_t>(row) / 64] >> (row % 64)) & 1;
    return overlay_rows_ && std::binary_search(overlay_rows_->begin(), overlay_rows_->end(), row);
  }

  bool IsMeasured(int row) const {
    return std::binary_search(measured_.begin(), measured_.end(), std::pair<int, double>(row, -kInf),
                              [](const auto& a, const auto& b) { return a.first < b.first; });
  }

  // ---- What both paths share ----

  // A row's coordinate estimate replaces its geo floor when it exists and is physically possible.
  bool UseCoordinates(Eigen::Index i, double& bound, double& floor_rtt) {
    const double c = coords_[i];
    if (bound == kInf || !std::isfinite(c)) return false;
    if (const double floor = PhysicalFloorMs(static_cast<int>(i)); c < floor) {
      NoteImplausible(static_cast<int>(i), RttSource::kCoordinates, c, floor);
      return false;
    }
    bound += c - floor_rtt;
    floor_rtt = c;
    return true;
  }

  // The least RTT light in fibre allows between the client and row i (0 when either has no position).
  double PhysicalFloorMs(int row) const {
    if (!has_client_geo_ || fleet_.has_geo[row] <= 0) return 0;
    return params_.geo.PhysicalFloorMs(common::ChordToKm(Chord(row)));
  }

  double Chord(Eigen::Index i) const {
    const double dx = fleet_.x[i] - client_.x, dy = fleet_.y[i] - client_.y, dz = fleet_.z[i] - client_.z;
    return std::sqrt(dx * dx + dy * dy + dz * dz);
  }

  void NoteImplausible(int row, RttSource source, double rtt, double floor) {
    if (out_.implausible.size() < kMaxImplausibleListed) {
      out_.implausible.push_back({fleet_.ids[static_cast<size_t>(row)], source, rtt, floor});
    }
    ++out_.implausible_count;
  }

  bool Vetoed(Eigen::Index i) {
    if (!policy_) return false;
    auto veto = policy_(request_, static_cast<int>(i));
    if (veto) ++out_.rejected[*veto];
    return veto.has_value();
  }

  // Costs row i exactly (its RTT known) and keeps it if it is among the best k; returns the k-th
  // best cost so far.
  double Consider(Eigen::Index i, const RowParts& p, std::pair<double, RttSource> rtt) {
    const int row = static_cast<int>(i);
    // The bound with its RTT floor replaced by the exact RTT.
    const double cost = p.bound - p.floor_rtt + rtt.first;
    if (top_.size() == k_ && !Better(cost, row, top_.back())) return threshold_of_top();
    Candidate cand;
    cand.row = row;
    cand.rtt_ms = rtt.first;
    cand.rtt_source = rtt.second;
    cand.queue_ms = app_.service_ms / p.headroom;
    cand.provision_s = p.provision;
    cand.observed = fleet_.observed[i] > 0;
    cand.provision_mode = p.mode == 2 ? ProvisionMode::kWarm : p.mode == 1 ? ProvisionMode::kOverlay : ProvisionMode::kFull;
    cand.cost_ms = cost;
    auto at = std::upper_bound(top_.begin(), top_.end(), cand,
                               [&](const Candidate& a, const Candidate& c) { return Better(a.cost_ms, a.row, c); });
    top_.insert(at, std::move(cand));
    if (top_.size() > k_) top_.pop_back();
    return threshold_of_top();
  }

  double threshold_of_top() const { return top_.size() == k_ ? top_.back().cost_ms : kInf; }

  // Counts a row a filter rejected under the first filter that fails, in order.
  void Reject(Eigen::Index i) {
    const double cpu = scalars_.cpu, mem = scalars_.mem;
    const double res_cpu = res_cpu_ ? res_cpu_[i] : 0, res_mem = res_mem_ ? res_mem_[i] : 0;
    const int why = fleet_.eligible[i] <= 0 ? 0 : iso_[i] <= 0 ? 1 : fleet_.free_cpu[i] - res_cpu < cpu ? 2
                    : fleet_.free_mem[i] - res_mem < mem ? 3 : 4;
    ++counts_[why];
  }

  // The exact RTT of a row, and where it came from (`m` is the row's place in measured_).
  std::pair<double, RttSource> ExactRtt(Eigen::Index i, bool row_measured, size_t m, bool by_coords) const {
    if (row_measured) return {measured_[m].second, RttSource::kMeasured};
    if (by_coords) return {coords_[i], RttSource::kCoordinates};
    if (has_client_geo_ && fleet_.has_geo[i] > 0) return {params_.geo.RttMs(common::ChordToKm(Chord(i))), RttSource::kGeo};
    return {params_.default_rtt_ms, RttSource::kDefault};
  }

  // Equal costs are ordered by a hash of the seed, so nobody is always first.
  bool Better(double cost_a, int a, const Candidate& b) const {
    if (cost_a != b.cost_ms) return cost_a < b.cost_ms;
    return Mix(tie_seed_ ^ static_cast<uint64_t>(a)) < Mix(tie_seed_ ^ static_cast<uint64_t>(b.row));
  }

  Ranking Finish() {
    static constexpr const char* kReasons[] = {"health", "isolation", "cpu", "memory", "saturated"};
    for (int r = 0; r < 5; ++r) {
      if (counts_[r] > 0) out_.rejected[kReasons[r]] += static_cast<int>(counts_[r]);
    }
    if (pruned_ > 0) out_.rejected["too_far"] += static_cast<int>(pruned_);
    for (Candidate& c : top_) {
      c.cloudlet_id = fleet_.ids[static_cast<size_t>(c.row)];
      c.endpoint = fleet_.endpoints[static_cast<size_t>(c.row)];
      c.sla_met = app_.max_rtt_ms <= 0 || c.rtt_ms <= app_.max_rtt_ms;
    }
    out_.candidates.assign(top_.begin(), top_.end());
    out_.fallback = !any_valid_ || !any_sla_;
    return std::move(out_);
  }

  static constexpr double kInf = std::numeric_limits<double>::infinity();

  const EngineParams& params_;
  const FleetSnapshot& fleet_;
  const PlacementRequest& request_;
  const AppSpec& app_;
  const Reservations& reserved_;
  const uint64_t tie_seed_;
  const Policy& policy_;
  const Eigen::Index n_;
  const size_t k_;
  const double* coords_;
  const bool has_client_geo_;
  const UnitVector client_;
  Scratch& scratch_;
  const double* res_cpu_ = nullptr;  // null: nothing reserved
  const double* res_mem_ = nullptr;
  const double* iso_ = nullptr;
  const std::vector<int>* overlay_rows_ = nullptr;  // rows caching the app's base VM, ascending
  const uint64_t* overlay_bits_ = nullptr;          // the same as bits, for common base VMs
  int common_slot_ = -1;                            // the base VM's slot when common
  std::vector<int> warm_;                           // rows where the app runs, ascending (spatial path)
  double per_km_ = 0, geo_floor_ = 0;
  BoundScalars scalars_{};
  std::vector<std::pair<int, double>> measured_;  // (row, RTT) the client measured, by row
  size_t next_measured_ = 0;                      // where the scan is in measured_
  std::vector<Candidate>& top_;                   // the best k so far, best first (the scratch's)
  double threshold_ = kInf;                       // the k-th best cost so far
  Eigen::Index counts_[5] = {0, 0, 0, 0, 0};      // health, isolation, cpu, memory, saturated
  Eigen::Index visited_ = 0, pruned_ = 0;         // rows examined; rows the spatial search skipped
  int implausible_measured_ = 0;
  bool any_sla_ = false, any_valid_ = false;
  Ranking out_;
};

}  // namespace

common::Result<Ranking> Engine::Rank(const FleetSnapshot& fleet, const PlacementRequest& request,
                                     const Reservations& reserved, uint64_t tie_seed,
                                     const ArrayXd* coordinate_rtt_ms, const Policy& policy) const {
  CLOUDLET_RETURN_IF_ERROR(ValidateRequest(request));
  return Ranker(params_, fleet, request, reserved, tie_seed, coordinate_rtt_ms, policy).Run();
}

std::optional<Candidate> Engine::Best(const FleetSnapshot& fleet, const PlacementRequest& request,
                                      const Reservations& reserved, uint64_t tie_seed, int row) const {
  if (request.k != 1) {
    PlacementRequest one = request;
    one.k = 1;
    return Best(fleet, one, reserved, tie_seed, row);
  }
  return Ranker(params_, fleet, request, reserved, tie_seed, nullptr, nullptr).RunBest(row);
}

common::Result<Ranking> Engine::RankRow(const FleetSnapshot& fleet, const PlacementRequest& request,
                                        const Reservations& reserved, int row, const ArrayXd* coordinate_rtt_ms) const {
  CLOUDLET_RETURN_IF_ERROR(ValidateRequest(request));
  return Ranker(params_, fleet, request, reserved, 0, coordinate_rtt_ms, nullptr).RunOne(row);
}

}  // namespace cloudlet::placement
