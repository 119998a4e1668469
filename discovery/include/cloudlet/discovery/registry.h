// The registry's in-memory table: soft state with TTL health and a change index.
//
//   ManualClock clock(FromUnixMillis(0));
//   Registry registry(clock, {.heartbeat_interval = 5s, .heartbeat_ttl = 15s, .purge_after = 10min});
//   registry.Put(descriptor);                       // healthy
//   clock.Advance(8s);  registry.UpdateHealth();    // suspect: a heartbeat was missed
//   clock.Advance(8s);  registry.UpdateHealth();    // expired: TTL passed, not offered for placement
//   registry.Heartbeat("cl-a", hb);                 // healthy again
//
// Health: healthy while the last sign of life (registration or heartbeat) is at most 1.5 heartbeat
// intervals old; suspect after that (one heartbeat missed, with room for jitter) and for every
// record restored from storage until it heartbeats; expired once older than the TTL; purged once
// older than TTL + purge_after. Every visible change (descriptor, health, load, free capacity,
// cache) bumps the registry's index, which blocking queries watch. The time of a heartbeat alone
// is not a visible change.
//
// Thread-safe. Watch callbacks run on the thread that moved the index, outside the lock.
#pragma once

#include <atomic>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/watchers.h"
#include "cloudlet/common/geo.h"
#include "cloudlet/common/sphere_index.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::discovery {

struct RegistryOptions {
  common::Millis heartbeat_interval{5'000};
  common::Millis heartbeat_ttl{15'000};
  common::Millis purge_after{600'000};  // grace between expiry and removal

  // TTL must exceed the suspect threshold (1.5 intervals) so the three states are distinct.
  common::Status Validate() const;
};

struct ListFilter {
  std::optional<Health> state = std::nullopt;
  // A full digest, or a prefix of at least 12 hex digits (as in the mDNS `bvm` key).
  std::optional<std::string> base_vm = std::nullopt;
  // Sorts by distance from this point, nearest first; cloudlets without geo come last. With a
  // limit, the registry's spatial index finds the nearest without looking at the rest.
  std::optional<common::GeoPoint> near = std::nullopt;
  std::optional<size_t> limit = std::nullopt;
};

struct ListEntry {
  CloudletRecord record;
  std::optional<double> distance_km;  // set when the filter had `near` and the cloudlet has geo
};

struct ListResult {
  std::vector<ListEntry> entries;
  uint64_t index = 0;
};

enum class PutOutcome { kCreated, kReplaced };

class Registry {
 public:
  using WatchId = common::Watchers::Id;

  Registry(const common::Clock& clock, RegistryOptions options);
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Loads what storage kept: each record becomes suspect until it heartbeats, and the index
  // continues above `index`.
  void Restore(std::vector<CloudletRecord> records, uint64_t index);

  PutOutcome Put(const CloudletDescriptor& descriptor);
  // NotFound for an unknown id (the agent should re-register); InvalidArgument naming the field.
  common::Status Heartbeat(std::string_view id, const discovery::Heartbeat& hb);
  bool Remove(std::string_view id);
  // A record another registry sharing the store wrote (RegistryStore::ChangesSince): taken when it is
  // new here, its descriptor differs, or its last heartbeat is not older than ours; health follows
  // from that heartbeat. Not marked dirty: it is in the store already. True when it was taken.
  bool Follow(const CloudletRecord& record);

  common::Result<CloudletRecord> Get(std::string_view id) const;
  bool Contains(std::string_view id) const;
  ListResult List(const ListFilter& filter) const;
  uint64_t index() const;
  // Moves only when a cloudlet joins, leaves or changes health or descriptor, not on load updates:
  // consumers that rebuild derived state (the placement snapshot) rebuild at once on these.
  uint64_t membership_index() const;
  std::map<Health, size_t> CountByHealth() const;

  // Re-evaluates every record's health at the clock's current time.
  void UpdateHealth();
  // Removes the records past expiry plus grace and returns their ids.
  std::vector<std::string> TakePurged();
  // Records whose state changed since the last call (heartbeats included), for persistence.
  std::vector<CloudletRecord> TakeDirty();
  void MarkDirty(const std::vector<std::string>& ids);

  // Calls `fn` once when the index exceeds `after_index`: at once (inline, returning 0) when it
  // already does, else later from the thread that moves it.
  WatchId Watch(uint64_t after_index, std::function<void()> fn);
  // True when the watch was removed before it fired.
  bool CancelWatch(WatchId id);
  // Fires every pending watch now, as at shutdown, so that blocking queries answer at once.
  void FireAllWatches();

  const RegistryOptions& options() const { return options_; }

 private:
  struct Entry {
    CloudletRecord record;
    common::TimePoint seen_at;  // last sign of life: registration, heartbeat or restore
    bool restored = false;      // loaded from storage and not yet heard from
  };

  Health HealthAt(const Entry& e, common::TimePoint now) const;
  static bool Matches(const Entry& e, const ListFilter& filter);
  // `near` with a limit: nearest first through the spatial index, then cloudlets without geo by id.
  ListResult ListNearestLocked(const ListFilter& filter) const;
  // Rebuilds the spatial index when a cloudlet has joined, left or moved since it was built.
  void IndexPositionsLocked() const;
  // Bumps the index and the record's modify_index; collects the watchers to fire.
  void BumpLocked(Entry& e, std::vector<std::function<void()>>& fire);
  void CollectWatchersLocked(std::vector<std::function<void()>>& fire);
  static void Fire(std::vector<std::function<void()>>& fire);

  const common::Clock& clock_;
  const RegistryOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;  // ordered by id: lists need no sort
  std::set<std::string> dirty_;
  // Written under mu_, read without it by index() and membership_index() (a placement asks per request).
  std::atomic<uint64_t> index_{0};
  std::atomic<uint64_t> membership_index_{0};
  common::Watchers waiters_;
  // The positions of the records that have one (item.row indexes geo_entries_), built on the first
  // `near` list after geo_version_ moves. Guarded by mu_.
  uint64_t geo_version_ = 1;
  mutable uint64_t geo_indexed_ = 0;
  mutable common::SphereIndex geo_index_;
  mutable std::vector<const Entry*> geo_entries_;
};

}  // namespace cloudlet::discovery
