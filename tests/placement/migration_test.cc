#include <gtest/gtest.h>

#include <cmath>

#include "cloudlet/placement/cost_model.h"
#include "cloudlet/placement/migration.h"

namespace cloudlet::placement {
namespace {

TEST(MigrationTest, MigratesWhenTheGainOverTheRestOfTheSessionPaysForTheMove) {
  MigrationAdvisor advisor({});  // downtime 1.5 s, margin 1.5, min gain 2 ms
  // 30 ms better per request for 1,000 more requests: 30 s of gain against 1.5 s + 4 s of moving.
  auto a = advisor.Advise({"cl-old", 45}, {"cl-new", 15}, 1000, 4.0);
  EXPECT_TRUE(a.migrate) << a.reason;
  EXPECT_EQ(a.target, "cl-new");
  EXPECT_DOUBLE_EQ(a.gain_per_request_ms, 30);
  EXPECT_DOUBLE_EQ(a.expected_gain_ms, 30'000);
  EXPECT_DOUBLE_EQ(a.cost_ms, 5'500);
  EXPECT_DOUBLE_EQ(a.downtime_s, 1.5);
}

TEST(MigrationTest, StaysWhenTooFewRequestsRemain) {
  MigrationAdvisor advisor({});
  // Same gain, 200 requests left: 6 s of gain is not 1.5 x 5.5 s.
  auto a = advisor.Advise({"cl-old", 45}, {"cl-new", 15}, 200, 4.0);
  EXPECT_FALSE(a.migrate);
  EXPECT_TRUE(a.target.empty());
  EXPECT_DOUBLE_EQ(a.expected_gain_ms, 6'000);
}

TEST(MigrationTest, StaysForNoiseSizedGainsAndOnTheBestCloudlet) {
  MigrationAdvisor advisor({});
  EXPECT_FALSE(advisor.Advise({"cl-old", 20}, {"cl-new", 18.5}, 1e9, 0).migrate);
  EXPECT_FALSE(advisor.Advise({"cl-old", 20}, {"cl-old", 20}, 1e9, 0).migrate);
}

// Walks a user along a line for `steps` seconds at 10 requests per second, asking the advisor each
// second; returns how many times the app moved. `response(x, c)` is the response time at x from c.
template <typename Path, typename Response>
int CountMigrations(const MigrationAdvisor& advisor, int steps, Path path, Response response, double west_km,
                    double east_km, std::string& current) {
  int migrations = 0;
  for (int step = 0; step < steps; ++step) {
    const double x = path(step);
    const MigrationOption here{current, response(x, current == "cl-west" ? west_km : east_km)};
    const double west = response(x, west_km), east = response(x, east_km);
    const MigrationOption best = west <= east ? MigrationOption{"cl-west", west} : MigrationOption{"cl-east", east};
    auto advice = advisor.Advise(here, best, (steps - step) * 10.0, 3.0);
    if (advice.migrate) {
      current = advice.target;
      ++migrations;
    }
  }
  return migrations;
}

TEST(MigrationTest, UserWalkingBackAndForthAcrossABoundaryDoesNotPingPong) {
  // Two cloudlets 2 km apart in a metro network where each km costs 10 ms; the user paces between
  // 0.92 and 1.08 km, across the boundary at 1 km, for an hour.
  auto response = [](double x, double c) { return 5 + 10 * std::abs(x - c); };
  auto pacing = [](int step) { return 1.0 + 0.08 * std::sin(step / 5.0); };
  std::string current = "cl-west";
  EXPECT_EQ(CountMigrations(MigrationAdvisor({}), 3600, pacing, response, 0, 2, current), 0);
  // Without hysteresis the same walk flips the app at nearly every crossing.
  current = "cl-west";
  const int naive = CountMigrations(MigrationAdvisor({.downtime_s = 0, .margin = 0, .min_gain_ms = 0}), 3600, pacing,
                                    response, 0, 2, current);
  EXPECT_GT(naive, 100);
}

TEST(MigrationTest, UserWhoReallyMovesIsMigratedOnce) {
  GeoLatencyModel geo;
  auto response = [&](double x, double c) { return geo.RttMs(std::abs(x - c)) + 10; };
  auto leaving = [](int step) { return std::min(300.0, step * 1.0); };  // km along the line
  std::string current = "cl-west";
  EXPECT_EQ(CountMigrations(MigrationAdvisor({}), 600, leaving, response, 0, 400, current), 1);
  EXPECT_EQ(current, "cl-east");
}

}  // namespace
}  // namespace cloudlet::placement
