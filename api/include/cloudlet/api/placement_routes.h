// The placement routes (docs/api.md): POST /v1/placements, GET /v1/placements/{id},
// POST /v1/placements/{id}/confirm, POST /v1/placements/{id}/location, DELETE /v1/placements/{id},
// and POST /v1/rtt for network coordinates; for the agents that run workloads, GET
// /v1/cloudlets/{id}/placements (a blocking query), POST /v1/placements/{id}/status and PUT
// /v1/cloudlets/{id}/workloads (the meter's live figures).
//
//   PlacementService placements(clock, engine, advisor, fleet, *stores.placements, vivaldi, {});
//   AddPlacementRoutes(router, placements, vivaldi, metrics, timers, {});
//
// Everything passed in must outlive the router.
#pragma once

#include "cloudlet/api/blocking.h"

#include "cloudlet/api/router.h"
#include "cloudlet/metering/metrics.h"
#include "cloudlet/placement/placement_service.h"
#include "cloudlet/placement/vivaldi.h"

namespace cloudlet::api {

// `metrics` counts placement requests per tenant (cloudlet_placement_requests_total).
// Blocking queries (?index=&wait= on one placement or a cloudlet's placements) are answered from
// `timers`' thread.
void AddPlacementRoutes(Router& router, placement::PlacementService& placements, placement::Vivaldi& coordinates,
                        metering::Metrics& metrics, common::TimerQueue& timers, BlockingOptions blocking);

}  // namespace cloudlet::api
