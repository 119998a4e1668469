#include "cloudlet/placement/migration.h"

#include <algorithm>
#include <cstdio>

namespace cloudlet::placement {

MigrationAdvice MigrationAdvisor::Advise(const MigrationOption& current, const MigrationOption& best,
                                         double remaining_requests, double target_provision_s) const {
  MigrationAdvice a;
  a.downtime_s = params_.downtime_s;
  if (best.cloudlet_id.empty() || best.cloudlet_id == current.cloudlet_id) {
    a.reason = "already on the best cloudlet";
    return a;
  }
  a.gain_per_request_ms = current.response_ms - best.response_ms;
  a.expected_gain_ms = a.gain_per_request_ms * std::max(0.0, remaining_requests);
  a.cost_ms = CostMs(target_provision_s);
  a.migrate = Migrate(current.response_ms, best.response_ms, remaining_requests, target_provision_s);
  char why[160];
  if (a.migrate) {
    a.target = best.cloudlet_id;
    std::snprintf(why, sizeof why, "expected gain %.0f ms exceeds %.1f x the %.0f ms cost of moving",
                  a.expected_gain_ms, params_.margin, a.cost_ms);
  } else if (a.gain_per_request_ms < params_.min_gain_ms) {
    std::snprintf(why, sizeof why, "gain %.1f ms per request is below the %.1f ms threshold", a.gain_per_request_ms,
                  params_.min_gain_ms);
  } else {
    std::snprintf(why, sizeof why, "expected gain %.0f ms does not exceed %.1f x the %.0f ms cost of moving",
                  a.expected_gain_ms, params_.margin, a.cost_ms);
  }
  a.reason = why;
  return a;
}

}  // namespace cloudlet::placement
