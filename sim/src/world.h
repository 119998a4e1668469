// The parts of the simulated world every policy shares: where users are, which app each runs,
// distances and network delay. Internal to the simulator.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "cloudlet/placement/cost_model.h"
#include "cloudlet/placement/engine.h"
#include "cloudlet/sim/scenario.h"

namespace cloudlet::sim {

// M/M/1 time in system, the engine's building block; utilisation is capped at 0.99 so that an
// overloaded cloudlet shows a long but finite delay.
inline double QueueDelayMs(double service_ms, double rho) {
  auto q = placement::QueueMs(service_ms, std::clamp(rho, 0.0, 0.99));
  return q.ok() ? *q : service_ms * 100;
}

class World {
 public:
  static common::Result<std::unique_ptr<World>> Create(const Scenario& s);

  // Moves every user dt_s forward (0: where they start) into `at`.
  void Positions(double dt_s, std::vector<Position>& at);

  const SimApp& AppOf(size_t user) const { return s_.apps[static_cast<size_t>(app_of_[user])]; }
  int AppIndexOf(size_t user) const { return app_of_[user]; }
  // The share of its first session a user has left at t = 0, in (0, 1] (1 when not staggered).
  double FirstSessionShare(size_t user) const { return first_share_[user]; }
  common::GeoPoint GeoOf(size_t cloudlet) const { return geo_[cloudlet]; }
  double DistanceM(Position p, size_t cloudlet) const {
    const Position c = s_.cloudlets[cloudlet].at;
    const double dx = p.x_m - c.x_m, dy = p.y_m - c.y_m;
    return std::sqrt(dx * dx + dy * dy);
  }
  // The cloudlets' positions as two columns, for scans over all of them.
  const std::vector<double>& cloudlet_x() const { return x_; }
  const std::vector<double>& cloudlet_y() const { return y_; }
  // The nearest cloudlet to p among those where room[j] is nonzero, or -1; equal distances go to
  // the lower number.
  int Nearest(Position p, const uint8_t* room) const;
  // Round trip to a cloudlet without jitter: the access hop plus distance.
  double NetworkMs(Position p, size_t cloudlet) const {
    return s_.network.access_ms + s_.network.per_km_ms * DistanceM(p, cloudlet) / 1000;
  }
  // The engine's parameters for this world: its geo model is the scenario's network model.
  placement::EngineParams EngineParamsFor() const;
  placement::PlacementRequest RequestFor(size_t app) const;

 private:
  explicit World(const Scenario& s) : s_(s) {}

  const Scenario& s_;
  std::vector<int> app_of_;
  std::vector<double> first_share_;
  std::vector<common::GeoPoint> geo_;
  std::vector<double> x_, y_;
  std::vector<float> xf_, yf_;  // the same in single precision, for Nearest's first pass
  double float_error_m_ = 0;     // how far a distance in single precision may be off, at most
  std::vector<std::unique_ptr<Mobility>> walkers_;
};

}  // namespace cloudlet::sim
