// What each cloudlet's measured provisionings teach: a smoothed transfer rate and start time, which
// the engine uses instead of the static model (--model-*) once a cloudlet has samples.
//
//   ProvisionObservations observed;
//   observed.Observe("cl-a", report);           // an agent reported a workload running
//   if (auto o = observed.Of("cl-a")) { ... o->rate_mbps, o->launch_s ... }
//
// Soft state: relearned after a restart. Thread-safe.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "cloudlet/placement/placement_service.h"

namespace cloudlet::placement {

struct ObservedProvisioning {
  double rate_mbps = -1;  // < 0: no transfer measured yet (every provisioning was warm)
  double launch_s = -1;   // < 0: none measured
  int samples = 0;
};

class ProvisionObservations {
 public:
  // The weight of the newest sample in the moving averages.
  static constexpr double kWeight = 0.3;
  // A transfer shorter than this says more about latency than rate, and is not used for the rate.
  static constexpr int64_t kMinRateBytes = 64 << 10;

  void Observe(const std::string& cloudlet, const ProvisionReport& r) {
    std::lock_guard lock(mu_);
    ObservedProvisioning& o = by_cloudlet_[cloudlet];
    auto blend = [&](double& avg, double sample) { avg = avg < 0 ? sample : (1 - kWeight) * avg + kWeight * sample; };
    if (r.mode != ProvisionMode::kWarm && r.bytes >= kMinRateBytes && r.pull_s > 0) {
      blend(o.rate_mbps, static_cast<double>(r.bytes) * 8 / 1e6 / r.pull_s);
    }
    if (r.start_s > 0) blend(o.launch_s, r.start_s);
    ++o.samples;
    version_.fetch_add(1, std::memory_order_release);
  }

  std::optional<ObservedProvisioning> Of(const std::string& cloudlet) const {
    std::lock_guard lock(mu_);
    auto it = by_cloudlet_.find(cloudlet);
    if (it == by_cloudlet_.end()) return std::nullopt;
    return it->second;
  }

  // Moves with every observation, so that a fleet view knows to rebuild.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, ObservedProvisioning> by_cloudlet_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace cloudlet::placement
