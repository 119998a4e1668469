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
    const int app = run.world().AppIndexOf(u);
    local_.clear();  // the cloudlets with room whose coverage the user is in, in row order
    for (size_t j = 0; j < run.cloudlets().size(); ++j) {
      if (run.HasRoom(j, app) && run.world().DistanceM(p, j) <= run.scenario().network.coverage_m) local_.push_back(static_cast<int>(j));
    }
    if (!local_.empty()) return PickAtRandom(run, local_);
    return run.NearestWithRoom(p, app);  // kCloud when none has room
  }

 private:
  std::vector<int> local_;
};

}  // namespace

std::unique_ptr<Policy> MakeSinfoniaPolicy(const Scenario&) { return std::make_unique<Sinfonia>(); }

}  // namespace cloudlet::sim
