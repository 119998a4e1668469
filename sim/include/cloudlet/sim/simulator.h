// Runs a scenario in virtual time under several placement policies at once: every policy sees the
// same users on the same tracks with the same network jitter, so that differences are the policies'.
//
//   auto scenario = LoadScenario("sim/scenarios/city.json");
//   auto result = Simulate(*scenario, {.policies = {"cost", "nearest", "optimal"}});
//   for (const PolicySummary& p : result->summary) { ... p.mean_ms ... p.total_p95_ms ... }
//
// `cost` and `cost-predict` call the placement engine and migration advisor the server runs
// (placement/engine.h, migration.h); the simulator holds no copy of the cost model. Baselines are
// reimplemented from their published behaviour; `optimal` solves a min-cost flow (LEMON) per step.
// docs/sim.md describes the world's rules and every metric.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"
#include "cloudlet/sim/scenario.h"

namespace cloudlet::sim {

// In the order they appear in outputs.
const std::vector<std::string>& AllPolicies();

struct PolicySummary {
  std::string policy;
  // Network plus queueing, per request.
  double mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0;
  // What a user waits in all: also provisioning and migration downtime.
  double total_mean_ms = 0, total_p50_ms = 0, total_p95_ms = 0, total_p99_ms = 0;
  double sla_violation_pct = 0;  // requests whose total wait exceeds their app's max_rtt_ms
  double cloud_pct = 0;          // requests served by the Level-1 cloud
  double migrations_per_user_hour = 0;
  uint64_t migrations = 0;
  double downtime_s = 0;
  uint64_t provisions = 0;
  double provision_mean_s = 0, provision_p95_s = 0;
  double cache_hit_pct = 0;      // provisionings that found the base VM cached
  double jain = 0;               // load balance over cloudlets, mean over time (1 = even)
  // Wall-clock, the only figures that differ between two runs of the same scenario.
  uint64_t decisions = 0;
  double decision_mean_us = 0;
};

// One row of timeseries.csv.
struct SeriesRow {
  double t_s;
  int policy;
  double mean_ms, total_mean_ms, sla_violation_pct;
  int on_cloud;
  uint64_t migrations;  // so far
};

// At a step where `optimal` was solved: its mean (a lower bound) and every policy's, same weights.
struct OptimalCheck {
  double t_s;
  double optimal_mean_ms;
  std::vector<double> policy_mean_ms;  // by policy index; NaN for optimal itself
};

struct SimResult {
  std::vector<std::string> policies;
  std::vector<PolicySummary> summary;
  std::vector<SeriesRow> series;
  std::vector<OptimalCheck> optimal_checks;
  // For plots: the CDF of network plus queueing per policy (ms, cumulative share).
  std::vector<std::vector<std::pair<double, double>>> cdf;
  // Utilisation of each cloudlet over time, per policy: load[policy][sample][cloudlet].
  std::vector<double> load_times;
  std::vector<std::vector<std::vector<float>>> load;
  // A few users' tracks: tracks[user][sample].
  std::vector<std::vector<Position>> tracks;
  double wall_s = 0;
};

// A running cloudletd doing the deciding (`cloudlet sim --live`): the simulator's virtual agents and
// users talk to it over HTTP. Calls come from one thread, in virtual-time order.
class Remote {
 public:
  virtual ~Remote() = default;
  // Registers the scenario's cloudlets as virtual agents.
  virtual common::Status Setup(const Scenario& scenario) = 0;
  // A virtual agent's heartbeat: what the simulated world holds on cloudlet `j` now.
  virtual common::Status Heartbeat(size_t j, double load, int64_t free_cpu, int64_t free_mem,
                                   const std::vector<int>& cached_apps) = 0;
  // A user's new placement: the cloudlet's index, or -2 when the registry placed it nowhere (cloud).
  // Confirms it, so that it is active.
  virtual common::Result<int> Place(size_t user, int app, common::GeoPoint at) = 0;
  // The user moved: -1 to stay, else the index of the cloudlet it moves to (placed and confirmed
  // there, the old placement released).
  virtual common::Result<int> Move(size_t user, int app, common::GeoPoint at) = 0;
  virtual common::Status Release(size_t user) = 0;
  // Releases what is left and deregisters the virtual agents.
  virtual common::Status Finish() = 0;
};

struct SimOptions {
  std::vector<std::string> policies = {};  // empty: all
  // Told the share done (0..1) now and then; may print a progress bar.
  std::function<void(double done)> progress = {};
  unsigned threads = 0;  // policies stepped in parallel on this many threads; 0: one per core
  // Live mode: policies must be {"live"}; the registry behind `remote` decides.
  Remote* remote = nullptr;
  double heartbeat_s = 5;  // virtual seconds between a virtual agent's heartbeats
  // Set (e.g. by a signal handler) to stop at the next step: a live run releases and deregisters
  // what it made, and Simulate returns Unavailable naming the virtual time reached.
  const std::atomic<bool>* cancel = nullptr;
};

common::Result<SimResult> Simulate(const Scenario& scenario, const SimOptions& options);

}  // namespace cloudlet::sim
