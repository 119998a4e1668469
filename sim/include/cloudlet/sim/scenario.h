// A simulation scenario: the area, the cloudlets, the apps, the users and how they move, the network,
// time, and the policies' settings (docs/sim.md describes every field).
//
//   auto scenario = LoadScenario("sim/scenarios/campus.json");   // errors: "<file>: <field>: <reason>"
//   if (!scenario.ok()) { ... scenario.status().ToString() ... }
//
// Loading checks every field (unknown fields are errors, so that a typo is not silently ignored),
// expands the cloudlet generator and reads a CSV trace. Values are plain data: thread-safe to share.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"
#include "cloudlet/sim/mobility.h"

namespace cloudlet::sim {

struct SimCloudlet {
  std::string id;
  Position at;
  int64_t cpu_millis = 0;
  int64_t mem_mb = 0;
  double base_load = 0;       // utilisation by work the simulation does not place, in [0, 1)
  double wan_mbps = 100;      // for fetching base VMs and overlays
  std::vector<int> cached;    // app indexes whose base VM is cached at the start
};

struct SimApp {
  std::string name;
  double share = 1;  // of the users
  double base_vm_mb = 0, overlay_mb = 0;
  int64_t cpu_millis = 0, mem_mb = 0;
  std::string isolation = "vm";
  double service_ms = 0, req_rate_hz = 1, session_s = 600, max_rtt_ms = 0;
  std::string base_vm_digest;  // derived from the name: the engine's cache key
};

struct NetworkModel {
  double access_ms = 4;      // the wireless first hop, both ways
  double per_km_ms = 0.5;    // round trip per km of distance to the cloudlet
  double jitter_ms = 1;      // mean of an exponential extra delay per user and step
  double coverage_m = 300;   // a user within this distance of a cloudlet is on its network (sinfonia)
  double cloud_rtt_ms = 60;  // the Level-1 cloud
};

struct CacheModel {
  double capacity_mb = 0;       // per cloudlet; 0: unbounded
  std::string eviction = "lru"; // lru | none (when full, nothing new is cached)
};

struct MigrationSettings {
  double downtime_s = 1.5;
  double margin = 1.5;
  double min_gain_ms = 2;
  double check_interval_s = 5;   // how often a placed user's placement is reconsidered
  double check_distance_m = 25;  // ... if it moved at least this far since the last look
  double recheck_s = 60;         // ... and at least this often anyway (load changes too)
};

struct PredictSettings {
  double horizon_s = 10;            // how far ahead cost-predict looks
  double process_noise = 0.5;       // acceleration noise (m/s^2) of the constant-velocity model
  double measurement_noise_m = 5;   // position fixes' error
};

struct OptimalSettings {
  double every_s = 0;     // solve every this many seconds of virtual time; 0: every step
  double cell_m = 0;      // group users by cell of this size (0: every user alone)
};

struct Scenario {
  std::string name;
  std::string file;  // where it was loaded from
  uint64_t seed = 1;
  double duration_s = 600;
  double step_s = 1;
  Area area;
  common::GeoPoint origin{40.4433, -79.9436};  // where (0, 0) lies on Earth, for the engine's geo model
  std::vector<SimCloudlet> cloudlets;
  std::vector<SimApp> apps;
  int users = 0;
  // Users' first sessions end at a random point of their length, so that sessions do not all renew
  // at once; false: every first session starts whole at t = 0.
  bool stagger_sessions = true;
  MobilitySpec mobility;
  NetworkModel network;
  CacheModel cache;
  MigrationSettings migration;
  PredictSettings predict;
  OptimalSettings optimal;

  size_t steps() const { return static_cast<size_t>(duration_s / step_s + 0.5); }
};

// Parses a scenario; `file` names it in errors and resolves a trace's relative path.
common::Result<Scenario> ParseScenario(const nlohmann::json& j, const std::string& file);
common::Result<Scenario> LoadScenario(const std::string& path);

// The engine's view of a sim position.
common::GeoPoint ToGeo(const Scenario& s, Position p);

}  // namespace cloudlet::sim
