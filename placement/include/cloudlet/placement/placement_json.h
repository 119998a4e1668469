// The JSON form of placement requests, results and placements (REST API and stores).
//
//   auto request = PlacementRequestFromJson(body);      // errors name the field: "app.overlay_mb"
//   nlohmann::json j = PlacementToJson(placement);
#pragma once

#include <nlohmann/json.hpp>

#include "cloudlet/common/status.h"
#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/migration.h"
#include "cloudlet/placement/placement_service.h"

namespace cloudlet::placement {

// Required: app.name, app.base_vm, app.base_vm_mb, app.overlay_mb, app.cpu_millis, app.mem_mb.
// Defaults: isolation "vm", service_ms 0, req_rate_hz 1, session_s 60, max_rtt_ms 0 (none), k 3.
common::Result<PlacementRequest> PlacementRequestFromJson(const nlohmann::json& body);
nlohmann::json PlacementRequestToJson(const PlacementRequest& r);
common::Result<LocationUpdate> LocationUpdateFromJson(const nlohmann::json& body);

nlohmann::json CandidateToJson(const Candidate& c);
// The inverse of CandidateToJson; errors name the field under `prefix` ("chosen.rtt_source").
common::Result<Candidate> CandidateFromJson(const nlohmann::json& j, const std::string& prefix);
nlohmann::json PlacementToJson(const Placement& p);
common::Result<Placement> PlacementFromJson(const nlohmann::json& j);
// POST /v1/placements/{id}/status: {"state", "endpoint", "reason", "provision": {"mode", "seconds",
// "bytes", "pull_seconds", "start_seconds"}}; errors name the field.
common::Result<WorkloadReport> WorkloadReportFromJson(const nlohmann::json& j);
// The answer to POST /v1/placements: placement fields, candidates, rejections and the fallback.
nlohmann::json PlaceResultToJson(const PlaceResult& r, const EngineParams& params);
// The same answer written straight to text, without building a JSON tree first: the placement route
// answers with it (a unit test holds the two equal).
std::string PlaceResultJsonText(const PlaceResult& r, const EngineParams& params);
nlohmann::json LocationResultToJson(const LocationResult& r);

}  // namespace cloudlet::placement
