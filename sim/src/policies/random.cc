// `random`: any cloudlet with room, uniformly; the cloud when none has room.
#include "policies/fit.h"
#include "policies/policy.h"

namespace cloudlet::sim {
namespace {

class Random final : public Policy {
 public:
  bool Moves() const override { return false; }  // a placement lasts its session
  int Choose(PolicyRun& run, size_t u, Position) override {
    const auto fit = CloudletsWithRoom(run, run.world().AppIndexOf(u));
    return fit.empty() ? kCloud : PickAtRandom(run, fit);
  }
};

}  // namespace

std::unique_ptr<Policy> MakeRandomPolicy(const Scenario&) { return std::make_unique<Random>(); }

}  // namespace cloudlet::sim
