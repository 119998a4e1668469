// `cost`: the server's own engine (placement/engine.h) and migration advisor. `cost-predict`
// (cost_predict.cc) is the same policy judging moves at a predicted position.
#pragma once

#include "policies/policy.h"

namespace cloudlet::sim {

class CostPolicy : public Policy {
 public:
  bool Moves() const override { return true; }
  bool UsesEngine() const override { return true; }
  int Choose(PolicyRun& run, size_t u, Position p) override;
  int Reconsider(PolicyRun& run, size_t u, Position p, double t) override;

 protected:
  // Where a move of user u, now at p, is judged.
  virtual Position LookAt(const PolicyRun& /*run*/, size_t /*u*/, Position p) { return p; }
};

}  // namespace cloudlet::sim
