#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace cloudlet::sim
