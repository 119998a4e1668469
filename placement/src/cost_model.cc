#include "cloudlet/placement/cost_model.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace cloudlet::placement {

double GeoLatencyModel::RttMs(double distance_km) const {
  return access_ms + 2.0 * std::max(0.0, distance_km) * path_stretch / fibre_km_per_ms;
}

common::Result<double> QueueMs(double service_ms, double rho) {
  if (!(service_ms >= 0) || !std::isfinite(service_ms)) {
    return common::Status::InvalidField("service_ms", "must be a finite number >= 0");
  }
  if (!(rho >= 0) || rho >= 1.0) {
    return common::Status::ResourceExhausted("utilisation would reach " + std::to_string(rho) +
                                             "; the queue would not drain");
  }
  return service_ms / (1.0 - rho);
}

double AmortisedProvisionMs(double provision_ms, double req_rate_hz, double session_s) {
  return provision_ms / std::max(1.0, req_rate_hz * session_s);
}

double CostMs(double rtt_ms, double queue_ms, double provision_ms, double req_rate_hz, double session_s) {
  return rtt_ms + queue_ms + AmortisedProvisionMs(provision_ms, req_rate_hz, session_s);
}

}  // namespace cloudlet::placement
