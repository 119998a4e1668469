// The policies the simulator knows: one line each.
#include "policies/policy.h"

namespace cloudlet::sim {

std::unique_ptr<Policy> MakeCostPolicy(const Scenario& s);
std::unique_ptr<Policy> MakeCostPredictPolicy(const Scenario& s);
std::unique_ptr<Policy> MakeNearestPolicy(const Scenario& s);
std::unique_ptr<Policy> MakeSinfoniaPolicy(const Scenario& s);
std::unique_ptr<Policy> MakeK8sPolicy(const Scenario& s);
std::unique_ptr<Policy> MakeRandomPolicy(const Scenario& s);

const std::vector<PolicyEntry>& PolicyTable() {
  static const std::vector<PolicyEntry> table = {
      {"cost", MakeCostPolicy},         {"cost-predict", MakeCostPredictPolicy},
      {"nearest", MakeNearestPolicy},   {"sinfonia", MakeSinfoniaPolicy},
      {"k8s", MakeK8sPolicy},           {"random", MakeRandomPolicy},
      {"optimal", nullptr},
  };
  return table;
}

const std::vector<std::string>& AllPolicies() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> names;
    for (const auto& e : PolicyTable()) names.push_back(e.name);
    return names;
  }();
  return all;
}

std::unique_ptr<Policy> MakePolicy(const std::string& name, const Scenario& s) {
  for (const auto& e : PolicyTable()) {
    if (e.name == name && e.make) return e.make(s);
  }
  return nullptr;
}

}  // namespace cloudlet::sim
