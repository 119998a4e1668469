// `--live`: a running cloudletd decides; the simulator's users place, confirm and move over HTTP
// (apps/cloudlet/sim_live.cc implements Remote).
#include "policies/policy.h"
#include "policy_run.h"

namespace cloudlet::sim {
namespace {

class Live final : public Policy {
 public:
  explicit Live(Remote& remote) : remote_(remote) {}

  bool Moves() const override { return true; }
  int Choose(PolicyRun& run, size_t u, Position p) override {
    auto placed = remote_.Place(u, run.world().AppIndexOf(u), ToGeo(run.scenario(), p));
    if (!placed.ok()) run.Fail(placed.status());
    return placed.ok() ? *placed : kCloud;
  }

  int Reconsider(PolicyRun& run, size_t u, Position p, double) override {
    auto moved = remote_.Move(u, run.world().AppIndexOf(u), ToGeo(run.scenario(), p));
    if (!moved.ok()) run.Fail(moved.status());
    return moved.ok() && *moved != run.users()[u].cloudlet ? *moved : kNone;
  }

 private:
  Remote& remote_;
};

}  // namespace

std::unique_ptr<Policy> MakeLivePolicy(Remote& remote) { return std::make_unique<Live>(remote); }

}  // namespace cloudlet::sim
