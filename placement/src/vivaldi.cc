#include "cloudlet/placement/vivaldi.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cloudlet::placement {

using common::Status;

Vivaldi::Vivaldi(VivaldiParams params, uint64_t seed) : params_(params), rng_(seed) {}

VivaldiCoordinate& Vivaldi::NodeLocked(const std::string& id) {
  auto [it, created] = nodes_.try_emplace(id);
  if (created) {
    it->second.vec = Eigen::VectorXd::Zero(params_.dimensions);
    it->second.height_ms = params_.min_height_ms;
    it->second.error = params_.initial_error;
  }
  return it->second;
}

double Vivaldi::DistanceLocked(const VivaldiCoordinate& a, const VivaldiCoordinate& b) const {
  return (a.vec - b.vec).norm() + a.height_ms + b.height_ms;
}

Status Vivaldi::Observe(const std::string& from, const std::string& to, double rtt_ms) {
  if (!std::isfinite(rtt_ms) || rtt_ms < 0 || rtt_ms > 100'000) {
    return Status::InvalidField("rtt_ms", "must be a number in [0, 100000]");
  }
  if (from == to) return Status::InvalidField("to", "a node cannot measure itself");
  std::lock_guard lock(mu_);
  if (nodes_.size() + 2 > params_.max_nodes && (!nodes_.contains(from) || !nodes_.contains(to))) {
    return Status::ResourceExhausted("the coordinate model holds its maximum of nodes");
  }
  // Median of the last few samples of this pair: one slow packet does not move the coordinate.
  auto& window = recent_[{from, to}];
  window.push_back(rtt_ms);
  while (window.size() > params_.filter_samples) window.pop_front();
  std::vector<double> sorted(window.begin(), window.end());
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
  const double rtt = std::max(sorted[sorted.size() / 2], 1e-3);

  NodeLocked(to);
  VivaldiCoordinate& self = NodeLocked(from);
  const VivaldiCoordinate& other = nodes_.at(to);
  const double dist = DistanceLocked(self, other);
  const double weight = self.error / std::max(self.error + other.error, 1e-9);
  const double sample_error = std::abs(dist - rtt) / rtt;
  self.error = std::min(params_.initial_error,
                        sample_error * params_.ce * weight + self.error * (1 - params_.ce * weight));
  const double force = params_.cc * weight * (rtt - dist);

  // Push along the unit vector from the other node; two nodes at one point move apart at random.
  Eigen::VectorXd diff = self.vec - other.vec;
  double mag = diff.norm();
  if (mag < 1e-9) {
    std::normal_distribution<double> normal;
    for (int i = 0; i < diff.size(); ++i) diff[i] = normal(rng_);
    mag = diff.norm();
    diff /= mag;
    self.vec += diff * force;
  } else {
    self.vec += diff / mag * force;
    self.height_ms = (self.height_ms + other.height_ms) * force / mag + self.height_ms;
  }
  self.height_ms = std::max(self.height_ms, params_.min_height_ms);
  return Status::Ok();
}

std::optional<double> Vivaldi::EstimateMs(const std::string& a, const std::string& b) const {
  std::lock_guard lock(mu_);
  auto ia = nodes_.find(a), ib = nodes_.find(b);
  if (ia == nodes_.end() || ib == nodes_.end()) return std::nullopt;
  return DistanceLocked(ia->second, ib->second);
}

Eigen::ArrayXd Vivaldi::EstimateMany(const std::string& from, const std::vector<std::string>& to) const {
  std::lock_guard lock(mu_);
  auto self = nodes_.find(from);
  if (self == nodes_.end()) return {};
  Eigen::ArrayXd out = Eigen::ArrayXd::Constant(static_cast<Eigen::Index>(to.size()),
                                                std::numeric_limits<double>::quiet_NaN());
  for (size_t i = 0; i < to.size(); ++i) {
    auto other = nodes_.find(to[i]);
    if (other != nodes_.end()) out[static_cast<Eigen::Index>(i)] = DistanceLocked(self->second, other->second);
  }
  return out;
}

std::optional<VivaldiCoordinate> Vivaldi::Get(const std::string& node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

size_t Vivaldi::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

}  // namespace cloudlet::placement
