#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "cloudlet/placement/vivaldi.h"

namespace cloudlet::placement {
namespace {

// A synthetic network: nodes at random points of a 100 x 100 ms plane, each behind an access link
// of 1 to 10 ms. RTT = distance + both access links, the structure Vivaldi's height model assumes.
struct SyntheticNetwork {
  explicit SyntheticNetwork(int n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> pos(0, 100), access(1, 10);
    for (int i = 0; i < n; ++i) points.push_back({pos(rng), pos(rng), access(rng)});
  }
  double Rtt(int a, int b) const {
    return std::hypot(points[a][0] - points[b][0], points[a][1] - points[b][1]) + points[a][2] + points[b][2];
  }
  std::vector<std::array<double, 3>> points;
};

TEST(VivaldiTest, FitsASyntheticLatencyMatrixWithinFifteenPercentMedianError) {
  constexpr int kNodes = 60;
  SyntheticNetwork net(kNodes, 7);
  Vivaldi model({}, 11);
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> pick(0, kNodes - 1);
  for (int round = 0; round < 400; ++round) {
    for (int a = 0; a < kNodes; ++a) {
      int b = pick(rng);
      if (b == a) b = (b + 1) % kNodes;
      ASSERT_TRUE(model.Observe("n" + std::to_string(a), "n" + std::to_string(b), net.Rtt(a, b)).ok());
    }
  }
  std::vector<double> errors;
  for (int a = 0; a < kNodes; ++a) {
    for (int b = a + 1; b < kNodes; ++b) {
      const auto est = model.EstimateMs("n" + std::to_string(a), "n" + std::to_string(b));
      ASSERT_TRUE(est.has_value());
      errors.push_back(std::abs(*est - net.Rtt(a, b)) / net.Rtt(a, b));
    }
  }
  std::nth_element(errors.begin(), errors.begin() + errors.size() / 2, errors.end());
  const double median = errors[errors.size() / 2];
  EXPECT_LT(median, 0.15) << "median relative error " << median;
  RecordProperty("median_relative_error", std::to_string(median));
}

TEST(VivaldiTest, EstimatesOnlyBetweenKnownNodes) {
  Vivaldi model;
  EXPECT_FALSE(model.EstimateMs("a", "b").has_value());
  ASSERT_TRUE(model.Observe("a", "b", 20).ok());
  EXPECT_TRUE(model.EstimateMs("a", "b").has_value());
  EXPECT_FALSE(model.EstimateMs("a", "c").has_value());
  auto many = model.EstimateMany("a", {"b", "c"});
  EXPECT_TRUE(std::isfinite(many[0]));
  EXPECT_TRUE(std::isnan(many[1]));
  EXPECT_EQ(model.EstimateMany("stranger", {"a", "b"}).size(), 0);
  EXPECT_EQ(model.size(), 2u);
}

TEST(VivaldiTest, MedianFilterIgnoresASingleOutlier) {
  Vivaldi with_outlier({}, 1), without({}, 1);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(with_outlier.Observe("a", "b", i == 25 ? 5000 : 20).ok());
    ASSERT_TRUE(without.Observe("a", "b", 20).ok());
  }
  EXPECT_NEAR(*with_outlier.EstimateMs("a", "b"), *without.EstimateMs("a", "b"), 1.0);
}

TEST(VivaldiTest, RejectsBadSamples) {
  Vivaldi model;
  EXPECT_EQ(*model.Observe("a", "b", -1).field(), "rtt_ms");
  EXPECT_EQ(*model.Observe("a", "b", std::nan("")).field(), "rtt_ms");
  EXPECT_EQ(*model.Observe("a", "b", 1e9).field(), "rtt_ms");
  EXPECT_EQ(*model.Observe("a", "a", 5).field(), "to");
  EXPECT_EQ(model.size(), 0u);
  Vivaldi tiny({.max_nodes = 2});
  ASSERT_TRUE(tiny.Observe("a", "b", 5).ok());
  EXPECT_EQ(tiny.Observe("a", "c", 5).code(), common::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace cloudlet::placement
