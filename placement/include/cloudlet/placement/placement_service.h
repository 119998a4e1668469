// Placements as the server runs them: rank, reserve, confirm, advise on moves, release.
//
//   PlacementService service(clock, engine, advisor, fleet, store, coordinates, {.lease = 30s});
//   CLOUDLET_RETURN_IF_ERROR(service.Start());              // reloads active placements
//   auto placed = service.Place("tenant-a", request);       // reserves capacity on the best cloudlet
//   service.Confirm("tenant-a", placed->placement->id, done); // reserved -> active, durable
//
// Lifecycle: reserved (a lease: capacity is held until `expires_at`) -> active (durable) ->
// released. An unconfirmed reservation expires and its capacity returns. Ranking runs outside the
// lock; a placement commits only if nobody reserved on its cloudlet meanwhile (else it ranks again),
// so concurrent requests see each other's reservations and do not pile onto one cloudlet. Reservations are soft state (lost on restart, as leases would lapse
// anyway); active placements are written to the PlacementStore before they are acknowledged.
//
// Owners see only their own placements: another owner's id answers NotFound. Thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/random.h"
#include "cloudlet/common/status.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/migration.h"
#include "cloudlet/placement/vivaldi.h"

namespace cloudlet::placement {

enum class PlacementState { kReserved, kActive, kReleased, kExpired };
const char* PlacementStateName(PlacementState s);

struct Placement {
  std::string id;
  std::string owner;  // the tenant (or operator) that asked
  PlacementRequest request;
  std::string cloudlet_id;
  std::string endpoint;
  Candidate chosen;  // the breakdown when it was placed
  PlacementState state = PlacementState::kReserved;
  common::TimePoint created_at;
  common::TimePoint expires_at;    // the lease, while reserved
  common::TimePoint activated_at;  // when confirmed
};

// The fleet as the engine sees it, refreshed by the caller's side (the registry).
class FleetSource {
 public:
  virtual ~FleetSource() = default;
  struct View {
    std::shared_ptr<const FleetSnapshot> snapshot;
    // Per row: capacity used before it is in `free`. Shared, so that handing out a view copies no rows.
    std::shared_ptr<const std::vector<common::TimePoint>> last_heartbeat;
  };
  // The current view. The reference stays valid on the calling thread until its next call (an
  // implementation may hand out a per-thread copy, so that readers share no reference counts).
  virtual const View& Current() = 0;
};

// Durable storage of active placements. Used from one thread at a time (the service's writer).
class PlacementStore {
 public:
  virtual ~PlacementStore() = default;
  virtual common::Result<std::vector<Placement>> LoadActive() = 0;
  virtual common::Status PutActive(const Placement& p) = 0;
  virtual common::Status Remove(const std::string& id) = 0;
};

// What one owner holds now: live (reserved or active) placements and the CPU they take.
struct OwnerUsage {
  size_t live = 0;
  int64_t cpu_millis = 0;
};

struct PlacementOptions {
  common::Millis lease{30'000};
  // Salts placement ids and seeds tie-breaking; null: the operating system's entropy.
  common::RandomSource* random = nullptr;
  size_t max_placements = 1'000'000;  // live (reserved + active) at most; beyond, ResourceExhausted
  // Asked before ranking, with what the owner holds now: a ResourceExhausted status (saying which
  // quota) refuses the request. Runs under the service's lock: it must not block.
  std::function<common::Status(const std::string& owner, const OwnerUsage& held, const PlacementRequest& request)>
      quota = {};
  // Told when a placement ends (released or its lease expired), for metering. Runs under the
  // service's lock: it must not block.
  std::function<void(const Placement& placement, common::TimePoint ended_at)> on_end = {};
};

struct PlaceResult {
  std::optional<Placement> placement;  // absent when no cloudlet could take the app
  Ranking ranking;
};

struct LocationUpdate {
  std::optional<common::GeoPoint> geo;
  std::unordered_map<std::string, double> rtt_ms;
};

struct LocationResult {
  MigrationAdvice advice;
  Ranking ranking;  // at the new position
};

class PlacementService {
 public:
  using Done = std::function<void(common::Result<Placement>)>;

  PlacementService(const common::Clock& clock, Engine engine, MigrationAdvisor advisor, FleetSource& fleet,
                   PlacementStore& store, Vivaldi& coordinates, PlacementOptions options);
  ~PlacementService();

  common::Status Start();
  void Stop();

  common::Result<PlaceResult> Place(const std::string& owner, const PlacementRequest& request);
  // `owner` empty means an operator: sees every placement.
  common::Result<Placement> Get(const std::string& owner, const std::string& id);
  // Live placements of `owner` ("" = everyone's), newest first, at most `limit`.
  std::vector<Placement> List(const std::string& owner, size_t limit);
  // Reserved -> active once stored; FailedPrecondition when the lease expired or it was released.
  void Confirm(const std::string& owner, const std::string& id, Done done);
  void Release(const std::string& owner, const std::string& id, Done done);
  common::Result<LocationResult> Location(const std::string& owner, const std::string& id,
                                          const LocationUpdate& update);
  // Ends reservations whose lease passed (also done lazily by every call).
  void ExpireLeases();

  const Engine& engine() const { return engine_; }
  size_t live() const;
  OwnerUsage UsageOf(const std::string& owner) const;

 private:
  // Fills `out` (reusing its storage) with what is held on each row for ranking `request`.
  void ReservationsLocked(const FleetSource::View& view, const PlacementRequest& request, const std::string& owner,
                          const std::string* except_id, Reservations& out);
  // Keep live_ and the indexes below in step.
  void AddLocked(Placement p);
  Placement RemoveLocked(const std::string& id);
  void IndexLocked(const Placement& p, int sign);
  void ExpireLeasesLocked(common::TimePoint now);
  void EndLocked(Placement p, PlacementState state);
  common::Result<Placement> CopyOf(const std::string& owner, const std::string& id);
  Placement* FindLocked(const std::string& owner, const std::string& id);
  std::string NewId();

  const common::Clock& clock_;
  const Engine engine_;
  const MigrationAdvisor advisor_;
  FleetSource& fleet_;
  PlacementStore& store_;
  Vivaldi& coordinates_;
  const PlacementOptions options_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Placement> live_;  // reserved and active
  std::unordered_map<std::string, OwnerUsage> by_owner_;
  // Indexes over live_, so that a placement costs O(cloudlets), not O(placements):
  struct Held {
    double cpu_millis = 0, mem_mb = 0;
  };
  std::unordered_map<std::string, Held> reserved_by_cloudlet_;
  // The same sums laid out by the rows of the last snapshot seen, kept in step with the map, so
  // that a placement copies two arrays instead of looking up every cloudlet.
  std::shared_ptr<const FleetSnapshot> rows_snapshot_;
  const FleetSnapshot* rows_of_ = nullptr;
  Eigen::ArrayXd reserved_cpu_by_row_, reserved_mem_by_row_;
  // When each row's holdings last changed (a count of changes), so that an optimistic placement can
  // tell whether its cloudlet was taken from under it without comparing copies.
  std::vector<uint64_t> row_changed_at_;
  uint64_t change_seq_ = 0;
  // Active placements per cloudlet, until a heartbeat newer than their activation shows them.
  struct Recent {
    std::string id;
    common::TimePoint activated_at;
    double cpu_millis, mem_mb;
  };
  std::unordered_map<std::string, std::vector<Recent>> recent_by_cloudlet_;
  std::multimap<common::TimePoint, std::string> leases_;                       // reserved, by expiry
  std::unordered_map<std::string, std::map<std::string, int>> warm_;          // app key -> cloudlet -> count
  // Recently ended placements (released, expired), so that their owners learn why; bounded.
  std::unordered_map<std::string, Placement> ended_;
  std::deque<std::string> ended_order_;
  uint64_t seq_ = 0;
  uint64_t rank_seq_ = 0;
  uint64_t id_salt_ = 0;
  std::unique_ptr<common::TimerQueue> writer_;  // durable writes, off the callers' threads
};

}  // namespace cloudlet::placement
