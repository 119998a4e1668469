#include "cloudlet/sim/random_waypoint.h"

#include <cmath>

namespace cloudlet::sim {

common::Result<std::unique_ptr<RandomWaypoint>> RandomWaypoint::Create(Area area, RandomWaypointParams params,
                                                                       uint64_t seed) {
  if (!(area.width_m > 0) || !(area.height_m > 0) || !std::isfinite(area.width_m) || !std::isfinite(area.height_m)) {
    return common::Status::InvalidField("area", "width_m and height_m must be finite and > 0");
  }
  if (!(params.min_speed_mps > 0)) {
    return common::Status::InvalidField("min_speed_mps",
                                        "must be > 0: with a zero minimum the mean speed decays (Yoon et al. 2003)");
  }
  if (!(params.max_speed_mps >= params.min_speed_mps) || !std::isfinite(params.max_speed_mps)) {
    return common::Status::InvalidField("max_speed_mps", "must be finite and >= min_speed_mps");
  }
  if (!(params.max_pause_s >= 0) || !std::isfinite(params.max_pause_s)) {
    return common::Status::InvalidField("max_pause_s", "must be finite and >= 0");
  }
  return std::unique_ptr<RandomWaypoint>(new RandomWaypoint(area, params, seed));
}

RandomWaypoint::RandomWaypoint(Area area, RandomWaypointParams params, uint64_t seed)
    : area_(area), params_(params), rng_(seed) {
  std::uniform_real_distribution<double> x(0, area_.width_m), y(0, area_.height_m);
  position_ = {x(rng_), y(rng_)};
  PickLeg();
}

void RandomWaypoint::PickLeg() {
  std::uniform_real_distribution<double> x(0, area_.width_m), y(0, area_.height_m);
  std::uniform_real_distribution<double> speed(params_.min_speed_mps, params_.max_speed_mps);
  target_ = {x(rng_), y(rng_)};
  speed_mps_ = speed(rng_);
}

Position RandomWaypoint::Advance(double dt_s) {
  double left_s = dt_s;
  while (left_s > 0) {
    if (pause_left_s_ > 0) {
      const double wait = std::min(pause_left_s_, left_s);
      pause_left_s_ -= wait;
      left_s -= wait;
      if (pause_left_s_ <= 0) PickLeg();
      continue;
    }
    const double dx = target_.x_m - position_.x_m, dy = target_.y_m - position_.y_m;
    const double dist = std::hypot(dx, dy);
    const double reach = speed_mps_ * left_s;
    if (reach < dist) {
      position_.x_m += dx / dist * reach;
      position_.y_m += dy / dist * reach;
      break;
    }
    position_ = target_;
    left_s -= dist / speed_mps_;
    std::uniform_real_distribution<double> pause(0, params_.max_pause_s);
    pause_left_s_ = params_.max_pause_s > 0 ? pause(rng_) : 0;
    if (pause_left_s_ <= 0) PickLeg();
  }
  return position_;
}

}  // namespace cloudlet::sim
