// One policy's copy of the simulated world: users' sessions, capacity held on each cloudlet, base
// VM caches, provisioning and migration downtime, and what users experience. The policy
// (policies/policy.h) decides where sessions go and when users move; everything else is here, the
// same for every policy. Internal to the simulator; one run is stepped by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/migration.h"
#include "cloudlet/sim/simulator.h"
#include "histogram.h"
#include "policies/policy.h"
#include "world.h"

namespace cloudlet::sim {

struct UserRun {
  int cloudlet = kNone;
  double ready_at = 0;     // provisioning done: served from then on
  double down_until = 0;   // migration downtime
  double session_end = 0;
  int pending = kNone;     // migration target being provisioned while the user is served here
  double pending_ready = 0;
  double pending_since = 0;
  double next_check = 0;
  Position checked_at;
  double blocked_s = 0;    // this session's provisioning and migration downtime so far
  double last_look = 0;
};

// What measuring a user needs each step, apart from the rest of its state (UserRun): the step's
// passes read a few bytes per user.
struct UserServed {
  double blocked_until = 0;  // provisioning or migration downtime until then: every request misses the SLA
  double wait_ms = 0;        // the session's provisioning and downtime spread over its requests
  int cloudlet = kNone;
};

struct CloudletRun {
  double held_cpu = 0, held_mem = 0;  // assigned plus migration targets being provisioned
  double assigned_cpu = 0;            // users whose app runs here (load)
  // Cached base VMs: app -> time it became available (a fetch in flight is not yet usable).
  std::vector<std::pair<int, double>> cache;  // (app, available_at), least recently used first
  double cache_mb = 0;
};

class PolicyRun {
 public:
  // `remote` (live mode) receives the virtual agents' heartbeats and session releases.
  PolicyRun(std::string name, std::unique_ptr<Policy> policy, const Scenario& s, const World& w,
            const placement::Engine& engine, const placement::MigrationAdvisor& advisor, Remote* remote = nullptr,
            double heartbeat_s = 5);

  const std::string& name() const { return name_; }

  // Decisions of one step, then the latency every user sees.
  void Step(double t, const std::vector<Position>& at, const std::vector<double>& jitter);

  // The first failure talking to the registry in live mode.
  const common::Status& error() const { return error_; }
  void Fail(common::Status s) { error_ = std::move(s); }
  double step_mean_ms() const { return step_mean_ms_; }
  double utilisation(size_t j) const {
    return s_.cloudlets[j].base_load + cloudlets_[j].assigned_cpu / static_cast<double>(s_.cloudlets[j].cpu_millis);
  }
  PolicySummary Summary() const;
  const Histogram& response() const { return response_; }
  SeriesRow Row(double t, int index) const {
    return {t, index, step_mean_ms_, step_total_ms_, step_sla_pct_, on_cloud_, migrations_};
  }

  // What policies see and use.
  const Scenario& scenario() const { return s_; }
  const World& world() const { return w_; }
  const placement::MigrationAdvisor& advisor() const { return advisor_; }
  std::mt19937_64& rng() { return rng_; }
  const std::vector<UserRun>& users() const { return users_; }
  const std::vector<CloudletRun>& cloudlets() const { return cloudlets_; }
  // Whether app number `app` fits on cloudlet j now (Fits, kept per app as capacity changes).
  bool HasRoom(size_t j, int app) const { return room_[static_cast<size_t>(app) * cloudlets_.size() + j] != 0; }
  bool Fits(size_t j, const SimApp& app) const {
    return FreeCpu(j) >= static_cast<double>(app.cpu_millis) && FreeMem(j) >= static_cast<double>(app.mem_mb);
  }
  // Whether app's base VM is in cloudlet j's cache and usable now.
  bool Cached(size_t j, int app) const { return usable_[static_cast<size_t>(app) * cloudlets_.size() + j] != 0; }
  // How many cloudlets hold app's base VM usable now.
  size_t CachedCount(int app) const { return usable_count_[static_cast<size_t>(app)]; }
  // The nearest cloudlet with room for app number `app`, or kCloud.
  int NearestWithRoom(Position p, int app) const {
    const int best = w_.Nearest(p, room_.data() + static_cast<size_t>(app) * cloudlets_.size());
    return best >= 0 ? best : kCloud;
  }
  // The engine's best candidate for user u at `p` (UsesEngine policies only); `only_row` >= 0
  // evaluates that cloudlet alone; `self_row`'s hold by u does not count against it.
  std::optional<placement::Candidate> Rank(size_t u, Position p, int only_row, int self_row);

 private:
  void Heartbeat(double t);
  // The fleet as the engine sees it at the start of a step: what agents would report.
  void BuildSnapshot();
  // What a cloudlet can still take: capacity less its background load and what placements hold.
  double FreeCpu(size_t j) const { return free_cpu_[j]; }
  double FreeMem(size_t j) const { return free_mem_[j]; }
  // Sets cloudlet j's free capacity from what placements hold there, and whether each app fits.
  void Free(size_t j) {
    const SimCloudlet& c = s_.cloudlets[j];
    free_cpu_[j] = static_cast<double>(c.cpu_millis) * (1 - c.base_load) - cloudlets_[j].held_cpu;
    free_mem_[j] = static_cast<double>(c.mem_mb) - cloudlets_[j].held_mem;
    for (size_t a = 0; a < s_.apps.size(); ++a) room_[a * cloudlets_.size() + j] = Fits(j, s_.apps[a]);
  }
  double Provision(size_t j, int app_index, double t);
  void Hold(int j, const SimApp& app, double sign);
  void Decide(double t, size_t u, Position p);
  // After a decision about user u: when Decide can next do anything for it, and what Measure reads.
  void Settle(size_t u);
  void StartSession(double t, size_t u, Position p);
  void Measure(double t, const std::vector<Position>& at, const std::vector<double>& jitter);
  template <typename F>
  int Timed(F&& decide);

  std::unique_ptr<Policy> policy_;
  Remote* remote_;
  double heartbeat_s_;
  double next_heartbeat_ = 0;
  common::Status error_;
  std::string name_;
  const Scenario& s_;
  const World& w_;
  const placement::Engine& engine_;
  const placement::MigrationAdvisor& advisor_;
  std::vector<UserRun> users_;
  std::vector<double> wake_at_;      // per user: Decide has nothing to do before then
  std::vector<uint32_t> woken_;      // the users whose wake time has come, this step
  std::vector<UserServed> served_;   // per user: what Measure reads
  // Per app: a request's weight in a step, its session's requests (at least 1); per step, the
  // weight of every user's requests and of those under an SLA.
  std::vector<double> app_weight_, app_session_requests_;
  double step_weight_ = 0, step_sla_weight_ = 0;
  std::vector<uint32_t> on_cloud_by_app_, violations_by_app_;  // Measure's counts, per app
  std::vector<CloudletRun> cloudlets_;
  std::vector<double> free_cpu_, free_mem_;  // per cloudlet, as columns: scans for room read only these
  std::vector<uint8_t> room_;                // per app and cloudlet (app * cloudlets + j): 1 where it fits
  // Per app and cloudlet (app * cloudlets + j): 1 where the base VM is cached and usable now_;
  // refreshed at each step, kept by Provision within it.
  std::vector<uint8_t> usable_;
  std::vector<size_t> usable_count_;  // per app
  void RefreshUsable();
  void SetUsable(int app, size_t j, bool usable);
  std::vector<placement::PlacementRequest> requests_;  // one per app: only the client's position changes
  std::vector<double> queue_per_service_ms_;
  std::mt19937_64 rng_;
  const bool moves_;  // the policy's Moves()
  placement::FleetSnapshot snapshot_;
  placement::Reservations reserved_;
  double now_ = 0;
  Histogram response_, total_;
  double all_weight_ = 0, cloud_weight_ = 0, sla_weight_ = 0, violations_ = 0;
  uint64_t migrations_ = 0, cache_hits_ = 0, decisions_ = 0, timed_ = 0;
  double downtime_s_ = 0, decision_ns_ = 0;
  std::vector<double> provision_s_;
  double jain_sum_ = 0;
  uint64_t jain_steps_ = 0;
  double step_mean_ms_ = 0, step_total_ms_ = 0, step_sla_pct_ = 0;
  int on_cloud_ = 0;
};

}  // namespace cloudlet::sim
