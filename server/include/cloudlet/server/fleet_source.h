// The registry's cloudlets as the placement engine's fleet: the one place where the registry's
// records become the engine's columns.
//
//   RegistryFleetSource fleet(registry_service.registry(), clock);
//   PlacementService placements(clock, engine, advisor, fleet, store, vivaldi, options);
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "cloudlet/common/clock.h"
#include "cloudlet/discovery/registry.h"
#include "cloudlet/placement/placement_service.h"
#include "cloudlet/placement/provision_model.h"

namespace cloudlet::server {

// The registry seen as the engine's fleet snapshot. A snapshot is rebuilt at once when cloudlets
// join, leave or change health, and at most every `refresh` for load changes alone (reservations
// cover what a slightly old load figure misses). In a fleet so large that a rebuild takes kCheapBuild
// or more (about 10,000 cloudlets; 100,000 take 0.5 s), where some cloudlet changes health every
// few milliseconds, any change waits until ten times the last build's duration has passed since it:
// rebuilding then takes at most a tenth of the time, and placements see health a few seconds old. Thread-safe. Each thread keeps its own copy of the
// view: while the view is current, Current() takes no lock and touches no shared reference count.
class RegistryFleetSource final : public placement::FleetSource {
 public:
  // `clock` times the refreshes for load changes. `observed`, when given, replaces a cloudlet's
  // declared link rate and the model's start time with what its provisionings measured (a new
  // observation rebuilds the view at once).
  // `costly_build`: from how long a rebuild on, changes wait (kCheapBuild; tests lower it).
  static constexpr std::chrono::microseconds kCheapBuild{5'000};
  RegistryFleetSource(const discovery::Registry& registry, const common::Clock& clock,
                      common::Millis refresh = common::Millis(100),
                      const placement::ProvisionObservations* observed = nullptr,
                      std::chrono::microseconds costly_build = kCheapBuild);
  const View& Current() override;

 private:
  // What a view was built from, to tell whether it is stale.
  struct Built {
    uint64_t index = UINT64_MAX, membership = UINT64_MAX, observed = UINT64_MAX;
    common::TimePoint at;
    std::chrono::microseconds cost{0};  // how long building it took
  };
  bool Stale(const Built& b, uint64_t membership, uint64_t index, uint64_t observed, common::TimePoint now) const {
    const bool members = membership != b.membership || observed != b.observed;
    if (!members && index == b.index) return false;
    auto gap = std::chrono::duration_cast<std::chrono::microseconds>(members ? common::Millis(0) : refresh_);
    if (b.cost >= costly_build_) gap = std::max(gap, b.cost * 10);
    return now - b.at >= gap;
  }

  const discovery::Registry& registry_;
  const common::Clock& clock_;
  const common::Millis refresh_;
  const placement::ProvisionObservations* observed_;
  const std::chrono::microseconds costly_build_;
  const uint64_t instance_;  // tells this source's per-thread copies from another's
  std::mutex mu_;
  View view_;
  Built built_;
  std::atomic<uint64_t> version_{0};  // bumped whenever view_ is replaced
};

}  // namespace cloudlet::server
