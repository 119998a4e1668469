#include "policies/cost.h"

#include <algorithm>
#include <limits>

#include "policy_run.h"

namespace cloudlet::sim {

int CostPolicy::Choose(PolicyRun& run, size_t u, Position p) {
  auto best = run.Rank(u, p, -1, -1);
  if (!best) return kCloud;
  // The Level-1 cloud is warm and has no queue to speak of: it wins when the best cloudlet's cost
  // (including amortised provisioning) is higher.
  const SimApp& app = run.world().AppOf(u);
  if (best->cost_ms > run.scenario().network.cloud_rtt_ms + app.service_ms) return kCloud;
  return best->row;
}

int CostPolicy::Reconsider(PolicyRun& run, size_t u, Position p, double t) {
  const UserRun& r = run.users()[u];
  const SimApp& app = run.world().AppOf(u);
  const Position look = LookAt(run, u, p);
  const auto go = run.Rank(u, look, -1, r.cloudlet);
  if (!go || go->row == r.cloudlet) return kNone;
  double stay_ms = std::numeric_limits<double>::infinity();
  if (r.cloudlet >= 0) {
    if (auto here = run.Rank(u, look, r.cloudlet, r.cloudlet)) stay_ms = here->rtt_ms + here->queue_ms;
  } else {
    stay_ms = run.scenario().network.cloud_rtt_ms + app.service_ms;
  }
  const double remaining = app.req_rate_hz * std::max(0.0, r.session_end - t);
  return run.advisor().Migrate(stay_ms, go->rtt_ms + go->queue_ms, remaining, go->provision_s) ? go->row : kNone;
}

std::unique_ptr<Policy> MakeCostPolicy(const Scenario&) { return std::make_unique<CostPolicy>(); }

}  // namespace cloudlet::sim
