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
// cover what a slightly old load figure misses). Thread-safe.
class RegistryFleetSource final : public placement::FleetSource {
 public:
  explicit RegistryFleetSource(const discovery::Registry& registry,
                               common::Millis refresh = common::Millis(100));
  View Current() override;

 private:
  const discovery::Registry& registry_;
  const common::Millis refresh_;
  std::mutex mu_;
  View view_;
  uint64_t index_ = UINT64_MAX, membership_ = UINT64_MAX;
  std::chrono::steady_clock::time_point built_at_;
};

// `metrics` counts placement requests per tenant (cloudlet_placement_requests_total).
void AddPlacementRoutes(Router& router, placement::PlacementService& placements, placement::Vivaldi& coordinates,
                        metering::Metrics& metrics);

}  // namespace cloudlet::api
