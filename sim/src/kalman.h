// A constant-velocity Kalman filter over a user's position fixes (state x, y, vx, vy), used by the
// cost-predict policy to look a few seconds ahead. Internal to the simulator.
#pragma once

#include <algorithm>

#include "cloudlet/sim/scenario.h"

namespace cloudlet::sim {

class PositionFilter {
 public:
  // The model treats x and y alike and apart (constant velocity on each axis, the same noise on
  // both), so the 4-state filter is two 2-state filters with one covariance between them: a
  // handful of multiplications per fix instead of 4 x 4 matrix products.
  void Observe(double t, Position p, const PredictSettings& settings) {
    const double r = settings.measurement_noise_m * settings.measurement_noise_m;
    if (!started_) {
      x_ = {p.x_m, p.y_m};
      v_ = {0, 0};
      pp_ = r;
      pv_ = 0;
      vv_ = 100;
      t_ = t;
      started_ = true;
      return;
    }
    const double dt = t - t_;
    if (dt <= 0) return;
    t_ = t;
    // Predict: x += v dt; P = F P F' + Q, with piecewise-constant white acceleration of variance q^2.
    const double q2 = settings.process_noise * settings.process_noise;
    const double dt2 = dt * dt, dt3 = dt2 * dt / 2, dt4 = dt2 * dt2 / 4;
    x_.x_m += v_.x_m * dt;
    x_.y_m += v_.y_m * dt;
    const double pp = pp_ + 2 * dt * pv_ + dt2 * vv_ + dt4 * q2;
    const double pv = pv_ + dt * vv_ + dt3 * q2;
    const double vv = vv_ + dt2 * q2;
    // Update with the position fix (H = [1 0] on each axis).
    const double k_pos = pp / (pp + r), k_vel = pv / (pp + r);
    const double ix = p.x_m - x_.x_m, iy = p.y_m - x_.y_m;
    x_.x_m += k_pos * ix;
    x_.y_m += k_pos * iy;
    v_.x_m += k_vel * ix;
    v_.y_m += k_vel * iy;
    pp_ = pp - k_pos * pp;
    pv_ = pv - k_pos * pv;
    vv_ = vv - k_vel * pv;
  }

  // Where the user will be `horizon_s` from the last fix, kept inside the area.
  Position Predict(double horizon_s, Area area) const {
    return {std::clamp(x_.x_m + v_.x_m * horizon_s, 0.0, area.width_m), std::clamp(x_.y_m + v_.y_m * horizon_s, 0.0, area.height_m)};
  }
  Position velocity() const { return v_; }

 private:
  Position x_, v_;                  // position and velocity
  double pp_ = 1, pv_ = 0, vv_ = 1;  // the covariance of (position, velocity) on either axis
  double t_ = 0;
  bool started_ = false;
};

}  // namespace cloudlet::sim
