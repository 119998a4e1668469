// What the baselines that keep a placement for its session (random, sinfonia, k8s) share: the
// cloudlets with room for an app, in row order, and a uniform pick among candidates.
#pragma once

#include <random>
#include <vector>

#include "policy_run.h"

namespace cloudlet::sim {

inline std::vector<int> CloudletsWithRoom(const PolicyRun& run, int app) {
  std::vector<int> fit;
  for (size_t j = 0; j < run.cloudlets().size(); ++j) {
    if (run.HasRoom(j, app)) fit.push_back(static_cast<int>(j));
  }
  return fit;
}

// One of `rows` (not empty), uniformly at random.
inline int PickAtRandom(PolicyRun& run, const std::vector<int>& rows) {
  return rows[std::uniform_int_distribution<size_t>(0, rows.size() - 1)(run.rng())];
}

}  // namespace cloudlet::sim
