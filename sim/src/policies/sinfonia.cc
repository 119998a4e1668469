// `sinfonia`: CMU Sinfonia's tier-2 match: cloudlets on the client's network first (here: whose
// coverage it is in), then by location (nearest), then at random.
#include "policies/fit.h"
#include "policies/policy.h"

namespace cloudlet::sim {
namespace {

class Sinfonia final : public Policy {
 public:
  bool Moves() const override { return false; }  // a placement lasts its session
  int Choose(PolicyRun& run, size_t u, Position p) override {
    const SimApp& app = run.world().AppOf(u);
    const auto fit = CloudletsWithRoom(run, app);
    if (fit.empty()) return kCloud;
    std::vector<int> local;
    for (int j : fit) {
      if (run.world().DistanceM(p, static_cast<size_t>(j)) <= run.scenario().network.coverage_m) local.push_back(j);
    }
    if (!local.empty()) return PickAtRandom(run, local);
    return run.NearestWithRoom(p, run.world().AppIndexOf(u));
  }
};

}  // namespace

std::unique_ptr<Policy> MakeSinfoniaPolicy(const Scenario&) { return std::make_unique<Sinfonia>(); }

}  // namespace cloudlet::sim
