#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "support/temp_dir.h"

using cloudlet::testing::TempDir;

#include "cloudlet/sim/mobility.h"

namespace cloudlet::sim {
namespace {

TEST(RandomWaypointTest, StaysInsideTheAreaAndMovesAtAllowedSpeeds) {
  auto w = RandomWaypoint::Create({500, 300}, {.min_speed_mps = 1, .max_speed_mps = 2, .max_pause_s = 0}, 7);
  ASSERT_TRUE(w.ok());
  Position prev = (*w)->position();
  double travelled = 0;
  for (int i = 0; i < 5000; ++i) {
    Position p = (*w)->Advance(0.5);
    EXPECT_GE(p.x_m, 0);
    EXPECT_LE(p.x_m, 500);
    EXPECT_GE(p.y_m, 0);
    EXPECT_LE(p.y_m, 300);
    const double step = std::hypot(p.x_m - prev.x_m, p.y_m - prev.y_m);
    EXPECT_LE(step, 2 * 0.5 + 1e-9);  // never faster than max speed
    travelled += step;
    prev = p;
  }
  // Without pauses the walker always moves; turning at waypoints only shortens the straight line.
  EXPECT_GT(travelled / 2500.0, 0.5);
}

TEST(RandomWaypointTest, SameSeedSameTrack) {
  auto a = RandomWaypoint::Create({100, 100}, {}, 42);
  auto b = RandomWaypoint::Create({100, 100}, {}, 42);
  auto c = RandomWaypoint::Create({100, 100}, {}, 43);
  Position pa, pb, pc;
  for (int i = 0; i < 100; ++i) {
    pa = (*a)->Advance(1);
    pb = (*b)->Advance(1);
    pc = (*c)->Advance(1);
  }
  EXPECT_EQ(pa.x_m, pb.x_m);
  EXPECT_EQ(pa.y_m, pb.y_m);
  EXPECT_NE(pa.x_m, pc.x_m);
}

TEST(RandomWaypointTest, RejectsZeroMinimumSpeedAndBadAreas) {
  EXPECT_EQ(*RandomWaypoint::Create({10, 10}, {.min_speed_mps = 0}, 1).status().field(), "min_speed_mps");
  EXPECT_EQ(*RandomWaypoint::Create({10, 10}, {.min_speed_mps = 2, .max_speed_mps = 1}, 1).status().field(),
            "max_speed_mps");
  EXPECT_EQ(*RandomWaypoint::Create({0, 10}, {}, 1).status().field(), "area");
  EXPECT_EQ(*RandomWaypoint::Create({10, 10}, {.max_pause_s = -1}, 1).status().field(), "max_pause_s");
}

TEST(RandomWaypointTest, PausesAtWaypoints) {
  auto w = RandomWaypoint::Create({10, 10}, {.min_speed_mps = 100, .max_speed_mps = 100, .max_pause_s = 1000}, 3);
  ASSERT_TRUE(w.ok());
  // At 100 m/s the first waypoint (at most ~14 m away) is reached within a second; then it pauses.
  Position reached = (*w)->Advance(1);
  int still = 0;
  for (int i = 0; i < 10; ++i) {
    Position p = (*w)->Advance(0.01);
    still += (p.x_m == reached.x_m && p.y_m == reached.y_m);
  }
  EXPECT_GT(still, 0);
}


// Runs a model for a long time and returns the time-average speed (distance per second), checking
// that every position stays inside the area.
double MeanSpeed(const MobilitySpec& spec, Area area, uint64_t seed, double seconds, double dt = 0.5) {
  auto m = MakeMobility(spec, area, seed, 0);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return 0;
  Position prev = (*m)->position();
  double travelled = 0;
  for (double t = 0; t < seconds; t += dt) {
    const Position p = (*m)->Advance(dt);
    EXPECT_GE(p.x_m, 0);
    EXPECT_LE(p.x_m, area.width_m);
    EXPECT_GE(p.y_m, 0);
    EXPECT_LE(p.y_m, area.height_m);
    travelled += std::hypot(p.x_m - prev.x_m, p.y_m - prev.y_m);
    prev = p;
  }
  return travelled / seconds;
}

TEST(MobilityTest, RandomWaypointMeanSpeedIsTheTimeAverageOfItsSpeeds) {
  // Legs are straight, so distance per second is the speed: 1 / E[1/v] = (2 - 0.5) / ln 4 = 1.082 m/s.
  MobilitySpec spec{.model = "random_waypoint", .min_speed_mps = 0.5, .max_speed_mps = 2.0};
  const double expected = TimeAverageSpeed(0.5, 2.0);
  EXPECT_NEAR(expected, 1.082, 0.001);
  double sum = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) sum += MeanSpeed(spec, {2000, 1500}, seed, 20'000);
  EXPECT_NEAR(sum / 8, expected, 0.05 * expected);
}

TEST(MobilityTest, ManhattanMovesAlongStreetsAtTheTimeAverageSpeed) {
  MobilitySpec spec{.model = "manhattan", .min_speed_mps = 10, .max_speed_mps = 20, .block_m = 200};
  const Area area{2000, 1000};
  double sum = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) sum += MeanSpeed(spec, area, seed, 10'000);
  EXPECT_NEAR(sum / 4, TimeAverageSpeed(10, 20), 0.03 * TimeAverageSpeed(10, 20));
  // Always on a street: one coordinate is a multiple of the block.
  auto m = MakeMobility(spec, area, 3, 0);
  for (int i = 0; i < 2000; ++i) {
    const Position p = (*m)->Advance(0.7);
    const double ox = std::fmod(p.x_m, 200), oy = std::fmod(p.y_m, 200);
    const bool on_street = std::min(ox, 200 - ox) < 1e-6 || std::min(oy, 200 - oy) < 1e-6;
    ASSERT_TRUE(on_street) << p.x_m << "," << p.y_m;
  }
}

TEST(MobilityTest, NomadicWithoutDwellingMovesAtTheTimeAverageSpeedAndVisitsItsPoints) {
  MobilitySpec spec{.model = "nomadic", .min_speed_mps = 1, .max_speed_mps = 3, .attractions = {{100, 100}, {900, 700}},
                    .dwell_mean_s = 0, .dwell_radius_m = 0};
  double sum = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) sum += MeanSpeed(spec, {1000, 800}, seed, 20'000);
  EXPECT_NEAR(sum / 4, TimeAverageSpeed(1, 3), 0.05 * TimeAverageSpeed(1, 3));
  // With long dwells it stays near the points most of the time.
  spec.dwell_mean_s = 3000;  // trips of about 500 s between the points
  spec.dwell_radius_m = 10;
  auto m = MakeMobility(spec, {1000, 800}, 5, 0);
  int near = 0;
  for (int i = 0; i < 4000; ++i) {
    const Position p = (*m)->Advance(1);
    near += std::hypot(p.x_m - 100, p.y_m - 100) <= 10.01 || std::hypot(p.x_m - 900, p.y_m - 700) <= 10.01;
  }
  EXPECT_GT(near, 3000);
}

TEST(MobilityTest, GaussMarkovKeepsItsMeanSpeedAndStaysInside) {
  MobilitySpec spec{.model = "gauss_markov", .mean_speed_mps = 5, .alpha = 0.75, .speed_sd_mps = 1, .heading_sd_rad = 0.4};
  double sum = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) sum += MeanSpeed(spec, {3000, 3000}, seed, 10'000, 1.0);
  // Clamping at the edges costs a little distance; turning within a step costs none at dt = update_s.
  EXPECT_NEAR(sum / 4, 5, 0.5);
}

TEST(MobilityTest, TraceReplayInterpolatesAndHoldsTheEnds) {
  TempDir dir;
  const std::string path = dir.path() + "/trace.csv";
  std::ofstream(path) << "t,user,x,y\n0,bob,0,0\n10,bob,100,0\n20,bob,100,50\n5,amy,10,10\n";
  auto trace = ReadTrace(path, {200, 200});
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  MobilitySpec spec{.model = "trace"};
  spec.trace = std::make_shared<const Trace>(*trace);
  auto amy = MakeMobility(spec, {200, 200}, 1, 0);  // users in name order: amy, bob
  auto bob = MakeMobility(spec, {200, 200}, 1, 1);
  EXPECT_EQ((*amy)->Advance(3).x_m, 10);
  Position p = (*bob)->Advance(5);
  EXPECT_DOUBLE_EQ(p.x_m, 50);
  p = (*bob)->Advance(10);
  EXPECT_DOUBLE_EQ(p.x_m, 100);
  EXPECT_DOUBLE_EQ(p.y_m, 25);
  p = (*bob)->Advance(100);
  EXPECT_DOUBLE_EQ(p.y_m, 50);  // held at the last sample
  // Its mean speed over the trace: 150 m in 20 s.
  auto again = MakeMobility(spec, {200, 200}, 1, 1);
  Position prev = (*again)->position();
  double travelled = 0;
  for (int i = 0; i < 40; ++i) {
    const Position q = (*again)->Advance(0.5);
    travelled += std::hypot(q.x_m - prev.x_m, q.y_m - prev.y_m);
    prev = q;
  }
  EXPECT_NEAR(travelled / 20, 7.5, 1e-9);
}

TEST(MobilityTest, BadTracesNameTheLineAndField) {
  TempDir dir;
  auto write = [&](const std::string& text) {
    const std::string path = dir.path() + "/t.csv";
    std::ofstream(path) << text;
    return ReadTrace(path, {100, 100}).status().message();
  };
  EXPECT_NE(write("t,user,x,y\n0,a,1,1\nzero,a,2,2\n").find("t.csv:3: t: must be a number"), std::string::npos);
  EXPECT_NE(write("0,a,1,1\n1,a,500,1\n").find(":2: x,y: the position lies outside"), std::string::npos);
  EXPECT_NE(write("0,a,1,1\n0,a,2,2\n").find(":2: t: times of one user must increase"), std::string::npos);
  EXPECT_NE(write("0,a,1\n").find(":1: row: must have 4 fields"), std::string::npos);
  EXPECT_NE(write("").find("holds no rows"), std::string::npos);
  EXPECT_NE(ReadTrace(dir.path() + "/missing.csv", {1, 1}).status().message().find("cannot open"), std::string::npos);
}

TEST(MobilityTest, EveryModelIsDeterministicForASeedAndDiffersAcrossUsers) {
  for (const char* model : {"random_waypoint", "gauss_markov", "manhattan", "nomadic"}) {
    MobilitySpec spec{.model = model};
    auto a = MakeMobility(spec, {1000, 1000}, 9, 0), b = MakeMobility(spec, {1000, 1000}, 9, 0), c = MakeMobility(spec, {1000, 1000}, 9, 1);
    Position pa, pb, pc;
    for (int i = 0; i < 500; ++i) {
      pa = (*a)->Advance(1);
      pb = (*b)->Advance(1);
      pc = (*c)->Advance(1);
    }
    EXPECT_EQ(pa.x_m, pb.x_m) << model;
    EXPECT_EQ(pa.y_m, pb.y_m) << model;
    EXPECT_NE(pa.x_m, pc.x_m) << model;
  }
}

TEST(MobilityTest, ValidationNamesTheField) {
  auto field = [](MobilitySpec s, Area a = {100, 100}) { return ValidateMobility(s, a).field().value_or(""); };
  EXPECT_EQ(field({.model = "teleport"}), "mobility.model");
  EXPECT_EQ(field({.model = "random_waypoint", .min_speed_mps = 0}), "mobility.min_speed_mps");
  EXPECT_EQ(field({.model = "gauss_markov", .alpha = 1}), "mobility.alpha");
  EXPECT_EQ(field({.model = "manhattan", .block_m = 500}), "mobility.block_m");
  EXPECT_EQ(field({.model = "nomadic", .attractions = {{500, 1}}}), "mobility.attractions[0]");
  EXPECT_EQ(field({.model = "trace"}), "mobility.file");
}

}  // namespace
}  // namespace cloudlet::sim
