// The placement routes (ARCHITECTURE.md §3): POST /v1/placements, GET /v1/placements/{id},
// POST /v1/placements/{id}/confirm, POST /v1/placements/{id}/location, DELETE /v1/placements/{id},
// and POST /v1/rtt for network coordinates.
//
//   RegistryFleetSource fleet(registry_service.registry());
//   PlacementService placements(clock, engine, advisor, fleet, *stores.placements, vivaldi, {});
//   AddPlacementRoutes(router, placements, vivaldi);
//
// Everything passed in must outlive the router.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "cloudlet/api/router.h"
#include "cloudlet/metering/metrics.h"
#include "cloudlet/discovery/registry.h"
#include "cloudlet/placement/placement_service.h"
#include "cloudlet/placement/vivaldi.h"

namespace cloudlet::api {

// The registry seen as the engine's fleet snapshot. A snapshot is rebuilt at once when cloudlets
// join, leave or change health, and at most every `refresh` for load changes alone (reservations
// cover what a slightly old load figure misses). Thread-safe. Each thread keeps its own copy of the
// view: while the view is current, Current() takes no lock and touches no shared reference count.
class RegistryFleetSource final : public placement::FleetSource {
 public:
  explicit RegistryFleetSource(const discovery::Registry& registry,
                               common::Millis refresh = common::Millis(100));
  const View& Current() override;

 private:
  // What a view was built from, to tell whether it is stale.
  struct Built {
    uint64_t index = UINT64_MAX, membership = UINT64_MAX;
    std::chrono::steady_clock::time_point at;
  };
  bool Stale(const Built& b, uint64_t membership, uint64_t index, std::chrono::steady_clock::time_point now) const {
    return membership != b.membership || (index != b.index && now - b.at >= refresh_);
  }

  const discovery::Registry& registry_;
  const common::Millis refresh_;
  const uint64_t instance_;  // tells this source's per-thread copies from another's
  std::mutex mu_;
  View view_;
  Built built_;
  std::atomic<uint64_t> version_{0};  // bumped whenever view_ is replaced
};

// `metrics` counts placement requests per tenant (cloudlet_placement_requests_total).
void AddPlacementRoutes(Router& router, placement::PlacementService& placements, placement::Vivaldi& coordinates,
                        metering::Metrics& metrics);

}  // namespace cloudlet::api
