// `k8s`: the Kubernetes scheduler's default scoring: NodeResourcesFit with LeastAllocated plus
// ImageLocality, weights 1 and 1; the highest score wins, ties at random (as selectHost does).
#include <algorithm>
#include <cmath>

#include "policies/fit.h"
#include "policies/policy.h"

namespace cloudlet::sim {
namespace {

constexpr double kMinImageMb = 23, kMaxImageMb = 1000;  // ImageLocality's thresholds per container

class K8s final : public Policy {
 public:
  bool Moves() const override { return false; }  // a placement lasts its session
  int Choose(PolicyRun& run, size_t u, Position) override {
    const SimApp& app = run.world().AppOf(u);
    const int uapp = run.world().AppIndexOf(u);
    const size_t n = run.cloudlets().size();
    const double spread = static_cast<double>(run.CachedCount(uapp)) / static_cast<double>(n);
    double best_score = -1;
    ties_.clear();
    for (size_t j = 0; j < n; ++j) {
      if (!run.HasRoom(j, uapp)) continue;
      const double score = Score(run, j, app, uapp, spread);
      if (score > best_score) {
        best_score = score;
        ties_.assign(1, static_cast<int>(j));
      } else if (score == best_score) {
        ties_.push_back(static_cast<int>(j));
      }
    }
    return ties_.empty() ? kCloud : PickAtRandom(run, ties_);
  }

 private:
  static double Score(const PolicyRun& run, size_t j, const SimApp& app, int uapp, double spread) {
    const SimCloudlet& c = run.scenario().cloudlets[j];
    const CloudletRun& r = run.cloudlets()[j];
    const double cpu_cap = static_cast<double>(c.cpu_millis), mem_cap = static_cast<double>(c.mem_mb);
    const double cpu_req = c.base_load * cpu_cap + r.held_cpu + static_cast<double>(app.cpu_millis);
    const double mem_req = r.held_mem + static_cast<double>(app.mem_mb);
    const double least = (std::max(0.0, (cpu_cap - cpu_req) / cpu_cap) + std::max(0.0, (mem_cap - mem_req) / mem_cap)) * 50;
    double image = 0;
    if (run.Cached(j, uapp)) {
      const double sum = std::clamp(app.base_vm_mb * spread, kMinImageMb, kMaxImageMb);
      image = 100 * (sum - kMinImageMb) / (kMaxImageMb - kMinImageMb);
    }
    return std::floor(least) + std::floor(image);  // plugins score in whole numbers
  }

  std::vector<int> ties_;  // the best-scored cloudlets of one choice
};

}  // namespace

std::unique_ptr<Policy> MakeK8sPolicy(const Scenario&) { return std::make_unique<K8s>(); }

}  // namespace cloudlet::sim
