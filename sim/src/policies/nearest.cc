// `nearest`: CMU Elijah's follow-me behaviour: always the closest cloudlet with room, moving as
// soon as another one is closer.
#include "policies/policy.h"
#include "policy_run.h"

namespace cloudlet::sim {
namespace {

class Nearest final : public Policy {
 public:
  bool Moves() const override { return true; }
  int Choose(PolicyRun& run, size_t u, Position p) override { return run.NearestWithRoom(p, run.world().AppIndexOf(u)); }
  int Reconsider(PolicyRun& run, size_t u, Position p, double) override {
    const int n = run.NearestWithRoom(p, run.world().AppIndexOf(u));
    return n >= 0 && n != run.users()[u].cloudlet ? n : kNone;
  }
};

}  // namespace

std::unique_ptr<Policy> MakeNearestPolicy(const Scenario&) { return std::make_unique<Nearest>(); }

}  // namespace cloudlet::sim
