// The placement cost model (docs/placement.md), in one place:
//
//   cost_ms(c) = rtt_ms(c) + queue_ms(c) + provision_ms(c) / max(1, req_rate_hz * session_s)
//
//   GeoLatencyModel geo;                                       // documented defaults
//   double rtt = geo.RttMs(12.0);                              // 12 km away
//   auto queue = QueueMs(/*service_ms=*/20, /*rho=*/0.5);     // 40 ms
//   SynthesisModel synthesis;
//   double overlay_s = synthesis.OverlaySeconds(/*overlay_mb=*/200, InverseRate(/*wan_mbps=*/100));
//   double cost = CostMs(rtt, *queue, overlay_s, /*req_rate_hz=*/10, /*session_s=*/600);
//
// These scalar formulas are the model (docs/architecture.md: where each caller uses them). The engine's vectorised ranking (engine.cc) calls the same
// inline functions per row, and a test holds every candidate's cost to CostMs. Pure functions:
// thread-safe.
#pragma once

#include <algorithm>

#include "cloudlet/common/status.h"

namespace cloudlet::placement {

// Round-trip time estimated from distance when nothing better is known: light in fibre covers about
// 200 km per ms one way, real paths are longer than the great circle (stretch), and the first hop
// (Wi-Fi or cellular access) adds a fixed delay.
struct GeoLatencyModel {
  double fibre_km_per_ms = 200.0;
  double path_stretch = 2.0;
  double access_ms = 4.0;

  // Round-trip ms per km of great-circle distance.
  double PerKmMs() const { return 2 * path_stretch / fibre_km_per_ms; }
  // The least RTT physics allows over `distance_km`: there and back in fibre along the great circle,
  // with no stretch and no access hop. A measured RTT below it is a measurement error.
  double PhysicalPerKmMs() const { return 2 / fibre_km_per_ms; }
  double PhysicalFloorMs(double distance_km) const { return PhysicalPerKmMs() * std::max(0.0, distance_km); }
  double RttMs(double distance_km) const { return access_ms + PerKmMs() * std::max(0.0, distance_km); }
};

// Utilisation is capped just below 1 where a figure is needed for a saturated cloudlet, so that
// the queueing delay is huge but finite.
inline constexpr double kMaxUtilisation = 0.999999;

// Mean time in an M/M/1 queue (time in system), service_ms / (1 - rho), where rho is the
// utilisation after adding the app; rho is capped at kMaxUtilisation.
inline double QueueMsAt(double service_ms, double rho) {
  return service_ms / (1.0 - std::min(rho, kMaxUtilisation));
}

// The same, checked: rho outside [0, 1) is ResourceExhausted (the queue would grow without bound),
// a negative or non-finite service time InvalidArgument naming `service_ms`.
common::Result<double> QueueMs(double service_ms, double rho);

// VM synthesis (Ha et al., MobiSys 2013): the overlay is transferred, decompressed and applied as a
// pipeline, so the slowest stage dominates; early start launches the VM before the last part of
// the delta is applied, hiding a share of the pipeline. Without a cached base VM it is fetched whole
// first (no pipelining across the two). The two formulas, on scalars that a ranking over many
// cloudlets computes once per request:
inline double OverlaySecondsOf(double launch_s, double visible_share, double transfer_s, double pipeline_floor_s) {
  return launch_s + visible_share * std::max(transfer_s, pipeline_floor_s);
}
inline double FullSecondsOf(double fetch_overhead_s, double base_transfer_s, double overlay_s) {
  return fetch_overhead_s + base_transfer_s + overlay_s;
}

struct SynthesisModel {
  double decompress_mb_per_s = 120;
  double apply_delta_mb_per_s = 150;
  double launch_s = 2.5;
  // Share of synthesis hidden by starting the VM before the overlay is complete (the paper's early
  // start). Neither runtime here does that: the vm driver boots once the overlay is verified, podman
  // once the image is pulled (docs/performance.md, "VM synthesis"), so by default nothing is hidden.
  double early_start_fraction = 0;
  double base_fetch_overhead_s = 1.0;

  // The stages that do not depend on the link: the slower of decompressing and applying.
  double PipelineFloorS(double overlay_mb) const {
    return std::max(overlay_mb / decompress_mb_per_s, overlay_mb / apply_delta_mb_per_s);
  }
  double VisibleShare() const { return 1 - early_start_fraction; }
  // Base VM cached: only the overlay moves. `inv_wan_mbps` is 1 / the link's rate (InverseRate).
  double OverlaySeconds(double overlay_mb, double inv_wan_mbps) const {
    return OverlaySecondsOf(launch_s, VisibleShare(), overlay_mb * 8 * inv_wan_mbps, PipelineFloorS(overlay_mb));
  }
  // Base VM not cached: fetched whole, then the overlay.
  double FullSeconds(double base_vm_mb, double inv_wan_mbps, double overlay_s) const {
    return FullSecondsOf(base_fetch_overhead_s, base_vm_mb * 8 * inv_wan_mbps, overlay_s);
  }
};

// 1 / a link's rate in Mbit/s, with a floor of 0.001 Mbit/s so that a missing figure is slow, not
// infinite.
inline double InverseRate(double mbps) { return 1.0 / std::max(mbps, 1e-3); }

// The ms each request bears per second of provisioning: provisioning is spread over the session's
// requests, so a 10 s synthesis costs little per request for a long, busy session and a lot for a
// short one; fewer than one request bears it all.
inline double AmortisationMsPerS(double req_rate_hz, double session_s) {
  return 1000 / std::max(1.0, req_rate_hz * session_s);
}

inline double AmortisedProvisionMs(double provision_s, double req_rate_hz, double session_s) {
  return provision_s * AmortisationMsPerS(req_rate_hz, session_s);
}

inline double CostMs(double rtt_ms, double queue_ms, double provision_s, double req_rate_hz, double session_s) {
  return rtt_ms + queue_ms + AmortisedProvisionMs(provision_s, req_rate_hz, session_s);
}

}  // namespace cloudlet::placement
