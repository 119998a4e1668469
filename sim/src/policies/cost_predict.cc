// `cost-predict`: the engine's policy with a constant-velocity Kalman filter per user (kalman.h):
// moves are judged at the position `predict.horizon_s` ahead, so the target is provisioned before
// the user gets there; the switch waits until the target serves the user better where it is now,
// or the predicted time has come.
#include <vector>

#include "kalman.h"
#include "policies/cost.h"
#include "policy_run.h"

namespace cloudlet::sim {
namespace {

class CostPredict final : public CostPolicy {
 public:
  explicit CostPredict(const Scenario& s) : s_(s), filters_(static_cast<size_t>(s.users)) {}

  void Observe(size_t u, double t, Position p) override { filters_[u].Observe(t, p, s_.predict); }

  bool HoldMove(PolicyRun& run, size_t u, Position p, double t) override {
    const UserRun& r = run.users()[u];
    if (t >= r.pending_since + s_.predict.horizon_s) return false;
    const auto there = run.Rank(u, p, r.pending, r.pending);
    const auto here = r.cloudlet >= 0 ? run.Rank(u, p, r.cloudlet, r.cloudlet) : std::nullopt;
    return there && here && there->rtt_ms + there->queue_ms > here->rtt_ms + here->queue_ms;
  }

 protected:
  Position LookAt(const PolicyRun&, size_t u, Position) override { return filters_[u].Predict(s_.predict.horizon_s, s_.area); }

 private:
  const Scenario& s_;
  std::vector<PositionFilter> filters_;
};

}  // namespace

std::unique_ptr<Policy> MakeCostPredictPolicy(const Scenario& s) { return std::make_unique<CostPredict>(s); }

}  // namespace cloudlet::sim
