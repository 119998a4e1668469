// Random waypoint mobility: pick a point uniformly in the area and a speed uniformly in
// [min_speed, max_speed], walk there in a straight line, pause up to max_pause, repeat.
//
//   auto walker = RandomWaypoint::Create({1000, 800}, {.min_speed_mps = 0.5, .max_speed_mps = 1.5}, 42);
//   Position p = walker->Advance(1.0);   // one second of virtual time
//
// Deterministic for a seed. Not thread-safe: one walker per simulated user.
#pragma once

#include <cstdint>
#include <memory>
#include <random>

#include "cloudlet/common/status.h"

namespace cloudlet::sim {

struct Area {
  double width_m = 0;
  double height_m = 0;
};

struct Position {
  double x_m = 0;
  double y_m = 0;
};

struct RandomWaypointParams {
  double min_speed_mps = 0.5;  // must be > 0 (Yoon et al. 2003)
  double max_speed_mps = 1.5;
  double max_pause_s = 0;
};

class RandomWaypoint {
 public:
  static common::Result<std::unique_ptr<RandomWaypoint>> Create(Area area, RandomWaypointParams params,
                                                                uint64_t seed);

  // Moves the walker forward by dt_s seconds of virtual time and returns where it is.
  Position Advance(double dt_s);
  Position position() const { return position_; }
  double speed_mps() const { return speed_mps_; }

 private:
  RandomWaypoint(Area area, RandomWaypointParams params, uint64_t seed);
  void PickLeg();

  Area area_;
  RandomWaypointParams params_;
  std::mt19937_64 rng_;
  Position position_;
  Position target_;
  double speed_mps_ = 0;
  double pause_left_s_ = 0;
};

}  // namespace cloudlet::sim
