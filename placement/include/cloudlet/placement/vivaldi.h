// Network coordinates (Vivaldi with height vectors; Dabek, Cox, Kaashoek and Morris, SIGCOMM 2004),
// fitted from RTT samples, to estimate the RTT between a client and a cloudlet that the client
// has not measured.
//
//   Vivaldi coords;                                  // documented defaults
//   coords.Observe("phone-17", "cl-a", 12.5);        // a sample, ms
//   std::optional<double> est = coords.EstimateMs("phone-17", "cl-b");
//
// The model: each node has a Euclidean vector and a height (the access link); the distance between
// two nodes is |x_i - x_j| + h_i + h_j. Each sample moves the observing node by a step weighted by
// the two nodes' confidences (cc), and updates its error estimate (ce). Constants follow the
// well-known Serf/Consul implementation: 8 dimensions, ce = cc = 0.25, error starts at 1.5, height
// at least 0.01 ms; a median filter over the last 3 samples of each pair damps outliers.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <Eigen/Core>

#include "cloudlet/common/status.h"

namespace cloudlet::placement {

struct VivaldiParams {
  int dimensions = 8;
  double ce = 0.25;             // error sensitivity
  double cc = 0.25;             // step size
  double initial_error = 1.5;   // also the cap on a node's error
  double min_height_ms = 0.01;
  size_t filter_samples = 3;    // median filter per pair
  size_t max_nodes = 1'000'000;
};

struct VivaldiCoordinate {
  Eigen::VectorXd vec;
  double height_ms = 0;
  double error = 0;
};

class Vivaldi {
 public:
  explicit Vivaldi(VivaldiParams params = {}, uint64_t seed = 1);

  // Updates `from`'s coordinate with an RTT sample to `to` (both created on first sight).
  // InvalidArgument for a negative, non-finite or absurd (> 100 s) RTT; ResourceExhausted when the
  // model holds max_nodes already.
  common::Status Observe(const std::string& from, const std::string& to, double rtt_ms);
  std::optional<double> EstimateMs(const std::string& a, const std::string& b) const;
  // Estimates from `from` to each of `to` (NaN where `to` is unknown), for the engine; empty when
  // `from` itself is unknown.
  Eigen::ArrayXd EstimateMany(const std::string& from, const std::vector<std::string>& to) const;
  std::optional<VivaldiCoordinate> Get(const std::string& node) const;
  size_t size() const;

 private:
  VivaldiCoordinate& NodeLocked(const std::string& id);
  double DistanceLocked(const VivaldiCoordinate& a, const VivaldiCoordinate& b) const;

  const VivaldiParams params_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::unordered_map<std::string, VivaldiCoordinate> nodes_;
  std::map<std::pair<std::string, std::string>, std::deque<double>> recent_;  // latency filter
};

}  // namespace cloudlet::placement
