// Placements as the server runs them: rank, reserve, confirm, advise on moves, release.
//
//   PlacementService service(clock, engine, advisor, fleet, store, coordinates, {.lease = 30s});
//   CLOUDLET_RETURN_IF_ERROR(service.Start());              // reloads active placements
//   auto placed = service.Place("tenant-a", request);       // reserves capacity on the best cloudlet
//   service.Confirm("tenant-a", placed->placement->id, done); // reserved -> active, durable
//
// Lifecycle (docs/runtime.md): reserved (a lease: capacity is held until `expires_at`) -> active
// (confirmed: durable) -> released. An unconfirmed reservation expires and its capacity returns.
// When the app names an image, the cloudlet's agent runs it and reports provisioning -> running
// (with the app's endpoint), or failed (with a reason, which ends the placement); it may start before
// the owner confirms, and the lease still applies until then. Every change moves the placement's
// `modify_index`, which blocking queries watch. Ranking runs outside the
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
#include <set>
#include <string_view>
#include <string>
#include <unordered_map>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/follow_thread.h"
#include "cloudlet/common/random.h"
#include "cloudlet/common/status.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/common/watchers.h"
#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/migration.h"
#include "cloudlet/placement/vivaldi.h"

namespace cloudlet::placement {

enum class PlacementState { kReserved, kActive, kProvisioning, kRunning, kReleased, kExpired, kFailed };
const char* PlacementStateName(PlacementState s);
std::optional<PlacementState> ParsePlacementState(std::string_view name);
// Reserved, active, provisioning or running: it holds capacity.
bool IsLive(PlacementState s);

// How a workload came to run, as its agent measured it.
struct ProvisionReport {
  ProvisionMode mode = ProvisionMode::kFull;
  double seconds = 0;       // from the start of provisioning until the app answered its health check
  int64_t bytes = 0;        // transferred
  double pull_s = 0;        // of `seconds`, fetching the image
  double start_s = 0;       // of `seconds`, starting until healthy
};

// What an agent says about a placement on its cloudlet.
struct WorkloadReport {
  PlacementState state = PlacementState::kProvisioning;  // provisioning, running or failed
  std::string endpoint;  // running: "host:port" where the app answers
  std::string reason;    // failed: why (pull failed, digest mismatch, start failed, ...)
  std::optional<ProvisionReport> provision;  // running: how it got there
};

// What a running placement's workload uses, as its agent's meter last read it (not durable).
struct LiveFigures {
  double cpu_millis = 0;  // mean over the agent's last meter interval
  double mem_mib = 0;
  int64_t net_in_bytes = 0, net_out_bytes = 0;  // since the workload started
  common::TimePoint at;
};

struct Placement {
  std::string id;
  std::string owner;  // the tenant (or operator) that asked
  PlacementRequest request;
  std::string cloudlet_id;
  // The DNS name it answers under: its own id, or the name of the placement it replaced.
  std::string name;
  std::string endpoint;  // the cloudlet's; once running, where the app answers ("host:port")
  Candidate chosen;  // the breakdown when it was placed
  PlacementState state = PlacementState::kReserved;
  bool confirmed = false;          // durable; until then the lease applies
  common::TimePoint created_at;
  common::TimePoint expires_at;    // the lease, until confirmed
  common::TimePoint activated_at;  // when confirmed
  std::string reason;              // failed: why
  std::optional<ProvisionReport> provision;  // running: how it got there
  uint64_t modify_index = 0;       // the service's change index when this placement last changed
  std::optional<LiveFigures> live;  // running: its latest figures (they do not move modify_index)
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

// What other registries sharing a placement store changed after a cursor.
struct PlacementChanges {
  std::vector<Placement> placements;  // reserved, confirmed or updated; oldest change first
  std::vector<std::string> removed;   // released or ended
  uint64_t cursor = 0;                // pass to the next call
};

// Durable storage of active placements. Used from one thread at a time (the service's writer),
// except Reserve (from callers' threads) and the change feed (the follower thread).
class PlacementStore {
 public:
  virtual ~PlacementStore() = default;
  // Confirmed placements, and on a shared store also reservations still within their lease.
  virtual common::Result<std::vector<Placement>> LoadActive() = 0;
  virtual common::Status PutActive(const Placement& p) = 0;
  virtual common::Status Remove(const std::string& id) = 0;

  // A store shared by several registries (PostgreSQL) decides reservations itself, so that they are
  // exact across registries, and reports what the others changed. The defaults: not shared.
  virtual bool shared() const { return false; }
  // Stores reservation `p` only if its cloudlet has room for it at `now`: the cloudlet's capacity
  // less what its live placements hold (confirmed ones, and reservations within their lease) through
  // every registry. ResourceExhausted when it has none.
  virtual common::Status Reserve(const Placement& p, common::TimePoint now) {
    (void)p, (void)now;
    return common::Status::FailedPrecondition("this placement store is not shared");
  }
  // A cursor from before a LoadActive that follows it.
  virtual common::Result<uint64_t> ChangeCursor() { return uint64_t{0}; }
  // Changes others made after `cursor` (this store's own are left out).
  virtual common::Result<PlacementChanges> ChangesSince(uint64_t cursor) { return PlacementChanges{{}, {}, cursor}; }
  // Waits up to `limit`, returning early when another registry may have changed a placement.
  virtual void WaitForChanges(common::Millis limit) { (void)limit; }
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
  // Told when an agent reports a workload running with how it got there, for the provisioning
  // model. Runs under the service's lock: it must not block.
  std::function<void(const Placement& placement, const ProvisionReport& provision)> on_provisioned = {};
};

// The live placements of one cloudlet, and the change index they are as of.
struct CloudletPlacements {
  std::vector<Placement> placements;
  uint64_t index = 0;
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

  // An agent's report on a placement of its cloudlet (`cloudlet_id` empty: an operator, any
  // cloudlet). NotFound for a placement on another cloudlet; FailedPrecondition once it ended or for
  // a move the lifecycle does not allow; InvalidArgument naming the field.
  void Report(const std::string& cloudlet_id, const std::string& id, const WorkloadReport& report, Done done);
  CloudletPlacements OnCloudlet(const std::string& cloudlet_id);
  // An agent's latest figures for the running placements of its cloudlet; others are ignored. How
  // many were taken.
  size_t SetLive(const std::string& cloudlet_id, const std::vector<std::pair<std::string, LiveFigures>>& figures);

  // Blocking queries. `fn` is called once, when what is watched changes after `after_index` (at
  // once, inline, when it already has: the id is then 0). It runs under the service's lock, so it
  // must only hand off (post to a queue). A placement the owner cannot see is NotFound.
  using WatchId = common::Watchers::Id;
  common::Result<WatchId> WatchPlacement(const std::string& owner, const std::string& id, uint64_t after_index,
                                         common::Watchers::Fn fn);
  WatchId WatchCloudlet(const std::string& cloudlet_id, uint64_t after_index, common::Watchers::Fn fn);
  bool CancelWatch(WatchId id);
  // The running placement that answers under DNS name `name` (the newest, while a migration has two),
  // whoever owns it; nullopt when none runs. For the DNS server, which needs no token.
  std::optional<Placement> RunningByName(const std::string& name) const;
  // Answers every watcher now, as at shutdown.
  void FireAllWatches();
  uint64_t index() const;

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
  // `notify`: tell on_end (false for a placement another registry ended: it told its own).
  void EndLocked(Placement p, PlacementState state, bool notify = true);
  // Shared stores: the reservation is the store's to grant; tries the ranked candidates in order.
  common::Result<PlaceResult> ReserveShared(Placement p, PlaceResult out);
  // Shared stores: applies what other registries changed.
  void Follow(const PlacementChanges& changes);
  // Ends a confirmed placement already taken out of live_: removed from the store first (on the
  // writer), then ended; if the store fails it is put back and `done` hears Unavailable.
  void EndDurably(Placement p, PlacementState state, Done done);
  // Moves the change index for `p` and calls the watchers of it and of its cloudlet.
  void TouchLocked(Placement& p);
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
  std::unordered_map<std::string, std::set<std::string>> by_cloudlet_;  // live placement ids
  std::unordered_map<std::string, std::set<std::string>> by_name_;      // live placement ids per DNS name
  uint64_t index_ = 1;
  std::unordered_map<std::string, uint64_t> cloudlet_index_;  // when each cloudlet's placements last changed
  common::Watchers watchers_;  // keys: a placement id, or "cloudlet:" + a cloudlet id
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
  std::unique_ptr<common::FollowThread> follow_;  // shared stores: others' changes
};

}  // namespace cloudlet::placement
