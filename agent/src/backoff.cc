#include "cloudlet/agent/backoff.h"

#include <algorithm>
#include <cmath>

namespace cloudlet::agent {

std::chrono::milliseconds Backoff::Next() {
  const double initial = static_cast<double>(options_.initial.count());
  const double max = static_cast<double>(options_.max.count());
  const double ceiling = std::min(max, initial * std::pow(2.0, std::min(attempts_, 62)));
  ++attempts_;
  const double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> u(1.0 - jitter, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ceiling * u(rng_))));
}

}  // namespace cloudlet::agent
