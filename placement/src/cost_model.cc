#include "cloudlet/placement/cost_model.h"

#include <cmath>
#include <string>

namespace cloudlet::placement {

common::Result<double> QueueMs(double service_ms, double rho) {
  if (!(service_ms >= 0) || !std::isfinite(service_ms)) {
    return common::Status::InvalidField("service_ms", "must be a finite number >= 0");
  }
  if (!(rho >= 0) || rho >= 1.0) {
    return common::Status::ResourceExhausted("utilisation would reach " + std::to_string(rho) +
                                             "; the queue would not drain");
  }
  return QueueMsAt(service_ms, rho);
}

}  // namespace cloudlet::placement
