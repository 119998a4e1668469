// Building blocks of the placement cost model (ARCHITECTURE.md §5):
//
//   cost_ms(c) = rtt_ms(c) + queue_ms(c) + provision_ms(c) / max(1, req_rate_hz * session_s)
//
//   GeoLatencyModel geo;                                    // documented defaults
//   double rtt = geo.RttMs(12.0);                           // 12 km away
//   auto queue = QueueMs(/*service_ms=*/20, /*rho=*/0.5);  // 40 ms
//   double cost = CostMs(rtt, *queue, /*provision_ms=*/10'000, /*req_rate_hz=*/10, /*session_s=*/600);
//
// Pure functions of their arguments: thread-safe.
#pragma once

#include "cloudlet/common/status.h"

namespace cloudlet::placement {

// Round-trip time estimated from distance when nothing better is known: light in fibre covers about
// 200 km per ms one way, real paths are longer than the great circle (stretch), and the first hop
// (Wi-Fi or cellular access) adds a fixed delay.
struct GeoLatencyModel {
  double fibre_km_per_ms = 200.0;
  double path_stretch = 2.0;
  double access_ms = 4.0;

  double RttMs(double distance_km) const;
};

// Mean time in an M/M/1 queue, service_ms / (1 - rho), where rho is the utilisation after adding
// the app. rho outside [0, 1) is ResourceExhausted (the queue would grow without bound).
common::Result<double> QueueMs(double service_ms, double rho);

// Provisioning spread over the requests of a session: a 10 s synthesis costs little per request
// for a long, busy session and a lot for a short one.
double AmortisedProvisionMs(double provision_ms, double req_rate_hz, double session_s);

double CostMs(double rtt_ms, double queue_ms, double provision_ms, double req_rate_hz, double session_s);

}  // namespace cloudlet::placement
