// Migration advice as a user moves: stay, or move the app to a better cloudlet.
//
//   MigrationAdvisor advisor({});                       // documented defaults
//   MigrationAdvice a = advisor.Advise(current, best, remaining_requests, target_provision_s);
//   if (a.migrate) { ... a.target ... a.expected_gain_ms ... a.downtime_s ... }
//
// Migrate only when the per-request gain times the expected remaining requests exceeds the cost of
// moving (downtime plus provisioning at the target, in user-visible milliseconds) by a margin, and
// the per-request gain itself is worth noticing. Both thresholds are hysteresis: a user standing on
// the boundary between two cloudlets sees nearly no gain either way, so it never ping-pongs.
// Pure functions of their arguments: thread-safe.
#pragma once

#include <algorithm>

#include <string>

namespace cloudlet::placement {

struct MigrationParams {
  double downtime_s = 1.5;        // live migration's stop-and-copy pause (tuned pre-copy, LAN)
  double margin = 1.5;            // benefit must exceed cost by this factor
  double min_gain_ms = 2.0;       // per-request gain below this is noise
};

struct MigrationOption {
  std::string cloudlet_id;
  double response_ms = 0;  // rtt + queueing at the user's new position
};

struct MigrationAdvice {
  bool migrate = false;
  std::string target;             // set when migrate
  double gain_per_request_ms = 0;
  double expected_gain_ms = 0;    // gain per request x remaining requests
  double cost_ms = 0;             // downtime + provisioning at the target
  double downtime_s = 0;
  std::string reason;
};

class MigrationAdvisor {
 public:
  explicit MigrationAdvisor(MigrationParams params) : params_(params) {}

  MigrationAdvice Advise(const MigrationOption& current, const MigrationOption& best, double remaining_requests,
                         double target_provision_s) const;
  // Advise's decision alone (for callers that make millions of them, as the simulator does), for
  // a best option other than the current one: true means migrate.
  bool Migrate(double current_response_ms, double best_response_ms, double remaining_requests,
               double target_provision_s) const {
    const double gain = current_response_ms - best_response_ms;
    return gain >= params_.min_gain_ms &&
           gain * std::max(0.0, remaining_requests) > params_.margin * CostMs(target_provision_s);
  }

  const MigrationParams& params() const { return params_; }

 private:
  // Downtime plus provisioning at the target, in user-visible milliseconds.
  double CostMs(double target_provision_s) const { return (params_.downtime_s + std::max(0.0, target_provision_s)) * 1000; }
  MigrationParams params_;
};

}  // namespace cloudlet::placement
