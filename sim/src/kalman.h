// A constant-velocity Kalman filter over a user's position fixes (state x, y, vx, vy), used by the
// cost-predict policy to look a few seconds ahead. Internal to the simulator.
#pragma once

#include <algorithm>

#include <Eigen/Dense>

#include "cloudlet/sim/scenario.h"

namespace cloudlet::sim {

class PositionFilter {
 public:
  void Observe(double t, Position p, const PredictSettings& settings) {
    if (!started_) {
      x_ << p.x_m, p.y_m, 0, 0;
      P_ = Eigen::Matrix4d::Identity() * 100;
      P_(0, 0) = P_(1, 1) = settings.measurement_noise_m * settings.measurement_noise_m;
      t_ = t;
      started_ = true;
      return;
    }
    const double dt = t - t_;
    if (dt <= 0) return;
    t_ = t;
    Eigen::Matrix4d F = Eigen::Matrix4d::Identity();
    F(0, 2) = F(1, 3) = dt;
    // Piecewise-constant white acceleration of variance q^2.
    const double q2 = settings.process_noise * settings.process_noise;
    const double dt2 = dt * dt, dt3 = dt2 * dt / 2, dt4 = dt2 * dt2 / 4;
    Eigen::Matrix4d Q = Eigen::Matrix4d::Zero();
    Q(0, 0) = Q(1, 1) = dt4 * q2;
    Q(0, 2) = Q(2, 0) = Q(1, 3) = Q(3, 1) = dt3 * q2;
    Q(2, 2) = Q(3, 3) = dt2 * q2;
    x_ = F * x_;
    P_ = F * P_ * F.transpose() + Q;
    // Measurement of position only: H = [I 0].
    const double r = settings.measurement_noise_m * settings.measurement_noise_m;
    Eigen::Matrix2d S = P_.topLeftCorner<2, 2>() + Eigen::Matrix2d::Identity() * r;
    Eigen::Matrix<double, 4, 2> K = P_.leftCols<2>() * S.inverse();
    const Eigen::Vector2d innovation(p.x_m - x_(0), p.y_m - x_(1));
    x_ += K * innovation;
    P_ -= K * P_.topRows<2>();
  }

  // Where the user will be `horizon_s` from the last fix, kept inside the area.
  Position Predict(double horizon_s, Area area) const {
    return {std::clamp(x_(0) + x_(2) * horizon_s, 0.0, area.width_m), std::clamp(x_(1) + x_(3) * horizon_s, 0.0, area.height_m)};
  }
  Position velocity() const { return {x_(2), x_(3)}; }

 private:
  Eigen::Vector4d x_ = Eigen::Vector4d::Zero();
  Eigen::Matrix4d P_ = Eigen::Matrix4d::Identity();
  double t_ = 0;
  bool started_ = false;
};

}  // namespace cloudlet::sim
