// The placement engine: filter cloudlets, score the candidates in one pass over a structure-of-arrays
// snapshot, return the best k with a full breakdown (docs/placement.md; the formulas are those of
// cost_model.h). Rows that cannot reach the top k are dismissed by a lower bound that needs no
// square root or division.
//
//   FleetSnapshot fleet = BuildSnapshot(cloudlets);        // structure of arrays, once per change
//   Engine engine(EngineParams{});                          // documented defaults
//   auto ranked = engine.Rank(fleet, request, /*reserved=*/{}, /*tie_seed=*/42);
//   if (ranked.ok()) { ranked->candidates[0].cloudlet_id ... ranked->rejected["cpu"] ... }
//
// The engine is pure: it owns no state and knows nothing of HTTP, SQLite or Avahi. Reservations
// are passed in (what other placements hold and the fleet's heartbeats do not show yet), so that the
// server and the simulator drive the same code. Thread-safe (const).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string_view>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <Eigen/Core>

#include "cloudlet/common/geo.h"
#include "cloudlet/common/sphere_index.h"
#include "cloudlet/common/status.h"
#include "cloudlet/placement/cost_model.h"

namespace cloudlet::placement {

// What the app needs and how it behaves (the placement request's `app`).
// How a runtime tells that an app is ready to serve: an HTTP GET answering 2xx, or a TCP connect.
struct HealthCheck {
  std::string http_path = {};  // "/healthz"; empty: not an HTTP check
  bool tcp = false;
  bool operator==(const HealthCheck&) const = default;
};

// What a cloudlet runs for an app, when the placement is to be executed: a container (`image`) or a
// VM synthesised from a cached base VM and an overlay (`overlay_url`). All of it is optional as a
// whole: a request with neither is advisory (placed, not run).
struct WorkloadSpec {
  std::string image = {};       // container: OCI reference pinned by digest: "<name>@sha256:<64 hex>"
  std::string base_image = {};  // the image it builds on (a cached base makes provisioning "overlay")
  std::string overlay_url = {};     // vm: the overlay on app.base_vm (http:// or https://)
  std::string overlay_digest = {};  // vm: its sha256 as fetched, "sha256:<64 hex>"; checked before use
  std::string base_vm_url = {};     // vm: where app.base_vm is fetched from when a cloudlet lacks it
  int port = 0;                 // what the app serves on inside the container or VM, 1..65535
  std::map<std::string, std::string> env = {};  // at most kMaxEnv entries
  std::vector<std::string> command = {};        // empty: the image's own
  HealthCheck health = {};                      // default: a TCP connect to `port`
  double ready_timeout_s = 60;             // not healthy by then: the placement fails
  bool operator==(const WorkloadSpec&) const = default;
  bool runs() const { return !image.empty() || !overlay_url.empty(); }  // false: advisory
};
inline constexpr size_t kMaxEnv = 64, kMaxCommandArgs = 64, kMaxArgBytes = 4096;

// Checks a workload (field names under `app.`); one with neither image nor overlay_url is none and
// is always valid.
common::Status ValidateWorkload(const WorkloadSpec& w);
// Whether `ref` is an OCI reference "<name>[:tag][@sha256:<64 hex>]"; `pinned` requires the digest.
bool IsImageReference(std::string_view ref, bool pinned);

struct AppSpec {
  std::string name;
  std::string base_vm;  // "sha256:<hex>"
  double base_vm_mb = 0;
  double overlay_mb = 0;
  int64_t cpu_millis = 0;
  int64_t mem_mb = 0;
  std::string isolation = "vm";  // "vm" or "container"
  double service_ms = 0;         // server time per request
  double req_rate_hz = 1;
  double session_s = 60;
  double max_rtt_ms = 0;  // the SLA on response time (rtt + queueing); 0 means none
  WorkloadSpec workload = {};  // in JSON: image, base_image, port, env, command, health, ready_timeout_s
};

struct ClientSpec {
  std::string id;
  std::optional<common::GeoPoint> geo;
  std::unordered_map<std::string, double> rtt_ms;  // measured, by cloudlet id
};

struct PlacementRequest {
  AppSpec app;
  ClientSpec client;
  std::string tenant;
  int k = 3;
  // The caller's live placement this one takes over from (a migration, make before break): the new
  // placement inherits its DNS name, so that `<name>.ZONE` follows the app. Empty: a new name.
  std::string replaces;
};

// One cloudlet as the engine sees it.
struct CloudletState {
  std::string id;
  std::string endpoint;
  std::optional<common::GeoPoint> geo;
  bool eligible = true;  // false when expired: never offered
  bool suspect = false;  // missed a heartbeat: offered with a cost penalty
  bool vm = true;
  bool container = true;
  int64_t cpu_capacity = 0;
  int64_t mem_capacity = 0;
  int64_t free_cpu = 0;
  int64_t free_mem = 0;
  double load = 0;
  double wan_mbps = 0;    // the link's rate: observed when the cloudlet has provisioned, else declared
  double launch_s = -1;   // observed start time; < 0: the model's (EngineParams::synthesis.launch_s)
  bool observed = false;  // wan_mbps and launch_s come from measured provisionings
  std::vector<std::string> base_vms;  // cached digests
  std::map<std::string, std::string> labels;
};

// The fleet as structure of arrays: the scoring pass reads contiguous columns.
struct FleetSnapshot {
  std::vector<std::string> ids;
  std::vector<std::string> endpoints;
  Eigen::ArrayXd x, y, z, has_geo;           // unit vectors on the sphere; has_geo: 1 or 0
  Eigen::ArrayXd eligible;                  // 1 when not expired
  Eigen::ArrayXd suspect;                   // 1 when suspect
  Eigen::ArrayXd vm, container;             // 1 when supported
  Eigen::ArrayXd cpu_capacity, mem_capacity, free_cpu, free_mem, load, wan_mbps;
  Eigen::ArrayXd launch_s;  // < 0: the model's
  Eigen::ArrayXd observed;  // 1 when the provisioning figures were measured
  // Derived once per snapshot so that a request does not recompute them.
  Eigen::ArrayXd inv_cpu_capacity;  // 1 / max(capacity, 1)
  Eigen::ArrayXd rho_now;           // utilisation now: the busier of load and capacity in use
  Eigen::ArrayXd inv_wan_mbps;      // 1 / max(wan, 0.001)
  std::unordered_map<std::string, std::vector<int>> by_base_vm;  // digest -> cloudlet rows, ascending
  // Base VMs that many cloudlets cache (a 32nd of the fleet or more; the 64 most cached): a slot
  // each, with one bit per row (a lookup where the spatial search would otherwise search a long
  // list) and a bit in each node's floor.
  std::unordered_map<std::string, int> common_base_vm;  // digest -> slot
  std::vector<std::vector<uint64_t>> common_bits;       // slot -> bit per row
  std::unordered_map<std::string, int> row_of;                   // id -> row
  std::vector<std::map<std::string, std::string>> labels;
  // Fleets of kSpatialRows or more: the rows with geo in a spatial index (common/sphere_index.h),
  // and those without. A ranking for a client with geo then looks only at the cloudlets that are
  // near enough to matter (Engine::Rank).
  std::shared_ptr<const common::SphereIndex> geo_index;
  std::vector<int> no_geo_rows;
  // Per node of geo_index, the best any row under it offers now: with the distance to the node's
  // box, a lower bound on the cost of every cloudlet in it.
  struct NodeFloor {
    double rho_min;       // least utilisation (rho_now)
    double inv_room;      // 1 / (1 - rho_min), rho_min capped as QueueMsAt caps it: a queue's floor per ms of service
    double inv_wan_min;   // fastest link
    double launch_min;    // least measured launch time; +inf when none was measured
    bool model_launch;    // some row uses the model's launch time
    uint64_t cached;      // bit s: some row caches common base VM slot s
  };
  std::vector<NodeFloor> node_floors;

  size_t size() const { return ids.size(); }
};

// From this many cloudlets on, a snapshot carries a spatial index: below it, one vectorised pass
// over every row is as fast (bench/placement_bench.cc).
inline constexpr size_t kSpatialRows = 512;

// Builds the columns. When `previous` holds the same positions in the same rows (a load update), its
// spatial index is shared instead of rebuilt.
FleetSnapshot BuildSnapshot(const std::vector<CloudletState>& cloudlets, const FleetSnapshot* previous = nullptr);

// Capacity already promised on each cloudlet (by row) beyond what its last heartbeat shows.
struct Reservations {
  Eigen::ArrayXd cpu_millis;  // empty, or one entry per snapshot row
  Eigen::ArrayXd mem_mb;
  // Rows where this tenant's app already runs (provisioning is free there: "warm").
  std::vector<int> warm_rows;
};
// Reservations add to what a snapshot shows: a row's cpu_millis is never below minus the request's
// own demand (a placement re-ranked without its own hold). The spatial search's bounds rely on it (a
// cloudlet's utilisation is at least what its snapshot shows); capacity given back shows in the next
// snapshot, as it would in the next heartbeat.

// Parameters of the model, with the defaults documented in docs/placement.md.
struct EngineParams {
  GeoLatencyModel geo;
  SynthesisModel synthesis;
  // Added to a suspect cloudlet's cost: it missed a heartbeat and may be gone.
  double suspect_penalty_ms = 20;
  // RTT assumed when nothing better is known (no measurement, coordinates or positions).
  double default_rtt_ms = 50;
  // The Level-1 cloud offered as fallback when no cloudlet meets the SLA.
  std::string cloud_endpoint;
  double cloud_rtt_ms = 80;

  // Rates must be positive and the early-start share within [0, 1]; errors name the field
  // (geo.fibre_km_per_ms, synthesis.early_start_fraction, ...).
  common::Status Validate() const;
};

// kDefault: neither a measurement, coordinates nor both positions: EngineParams::default_rtt_ms.
enum class RttSource { kMeasured, kCoordinates, kGeo, kDefault };
const char* RttSourceName(RttSource s);
enum class ProvisionMode { kWarm, kOverlay, kFull };
const char* ProvisionModeName(ProvisionMode m);

struct Candidate {
  std::string cloudlet_id;
  std::string endpoint;
  int row = -1;
  double rtt_ms = 0;
  RttSource rtt_source = RttSource::kDefault;
  double queue_ms = 0;
  ProvisionMode provision_mode = ProvisionMode::kFull;
  double provision_s = 0;
  bool observed = false;  // provision_s from this cloudlet's measured provisionings, not the static model
  double cost_ms = 0;
  bool sla_met = true;
};

// A measured RTT, or an estimate from network coordinates, below what light in fibre allows over
// the distance to the cloudlet (GeoLatencyModel::PhysicalFloorMs): a measurement error, set aside.
struct ImplausibleRtt {
  std::string cloudlet_id;
  RttSource source = RttSource::kMeasured;  // kMeasured or kCoordinates
  double rtt_ms = 0;
  double floor_ms = 0;  // the least RTT possible over that distance
};

struct Ranking {
  std::vector<Candidate> candidates;     // best first, at most k
  // reason -> count: rows that failed a filter (health, isolation, cpu, memory, saturated, or a
  // policy's reason), and "too_far": rows never examined because their distance alone put them
  // beyond the k-th best (their filters were not evaluated).
  std::map<std::string, int> rejected;
  bool fallback = false;                 // nothing met the SLA: the cloud is offered too
  std::vector<ImplausibleRtt> implausible;  // the first kMaxImplausibleListed; the RTT used instead is the next source's
  int implausible_count = 0;
};
inline constexpr size_t kMaxImplausibleListed = 8;

// Optional per-request veto (tenant policy, quota): returns a rejection reason or nullopt.
using Policy = std::function<std::optional<std::string>(const PlacementRequest&, int row)>;

common::Status ValidateRequest(const PlacementRequest& request);

class Engine {
 public:
  explicit Engine(EngineParams params) : params_(std::move(params)) {}

  // `coordinate_rtt_ms`, when given, holds one estimate per row from network coordinates (NaN where
  // unknown); it is used where the client measured nothing. `tie_seed` orders equal costs at random.
  // With a spatial index and a client position, only cloudlets whose distance lets them enter the
  // top k are examined; the answer equals that of a pass over every row (tests/placement).
  common::Result<Ranking> Rank(const FleetSnapshot& fleet, const PlacementRequest& request,
                               const Reservations& reserved, uint64_t tie_seed,
                               const Eigen::ArrayXd* coordinate_rtt_ms = nullptr, const Policy& policy = nullptr) const;

  // One cloudlet (by row) alone: its candidate, or none with the filter that rejected it. The same
  // as Rank with a policy vetoing every other row, without looking at them.
  common::Result<Ranking> RankRow(const FleetSnapshot& fleet, const PlacementRequest& request,
                                  const Reservations& reserved, int row,
                                  const Eigen::ArrayXd* coordinate_rtt_ms = nullptr) const;

  // The best candidate alone, as Rank's first with k = 1 (or, with `row` >= 0, as RankRow's), for
  // callers that rank millions of times and use only the winner: the simulator. Without the
  // rejection counts, the implausible list, the fallback flag and the candidate's id and endpoint
  // (left empty; `row` names it). The request must be one ValidateRequest accepts: it is not
  // checked again.
  std::optional<Candidate> Best(const FleetSnapshot& fleet, const PlacementRequest& request, const Reservations& reserved,
                                uint64_t tie_seed, int row = -1) const;

  // Provisioning time in seconds for one cloudlet: warm, overlay only, or base VM then overlay.
  double ProvisionSeconds(ProvisionMode mode, const AppSpec& app, double wan_mbps) const;

  const EngineParams& params() const { return params_; }

 private:
  EngineParams params_;
};

}  // namespace cloudlet::placement
