// World::Nearest (the nearest and sinfonia policies' search) against the definition, on layouts
// that stress its single-precision first pass: a city, a country-sized area, cloudlets a few
// centimetres apart, users on top of a cloudlet, and exact ties.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

#include "cloudlet/sim/scenario.h"
#include "world.h"

namespace cloudlet::sim {
namespace {

// The least (squared distance, row) among the rows with room, in double precision.
int ScanNearest(const World& w, Position p, const std::vector<uint8_t>& room) {
  int best = -1;
  double best_d2 = std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < room.size(); ++j) {
    const double dx = p.x_m - w.cloudlet_x()[j], dy = p.y_m - w.cloudlet_y()[j];
    if (room[j] && dx * dx + dy * dy < best_d2) {
      best_d2 = dx * dx + dy * dy;
      best = static_cast<int>(j);
    }
  }
  return best;
}

Scenario WithCloudlets(double width_m, const std::vector<Position>& at) {
  auto s = LoadScenario(std::string(CLOUDLET_SOURCE_DIR) + "/sim/scenarios/city.json");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  s->users = 1;
  s->area = {width_m, width_m * 0.75};
  const SimCloudlet proto = s->cloudlets.front();
  s->cloudlets.clear();
  for (size_t j = 0; j < at.size(); ++j) {
    s->cloudlets.push_back(proto);
    s->cloudlets.back().id = "c" + std::to_string(j);
    s->cloudlets.back().at = at[j];
  }
  return *s;
}

TEST(WorldNearest, EqualsTheDefinition) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  int compared = 0, none = 0;
  for (const double width : {20'000.0, 900'000.0}) {
    const double height = width * 0.75;
    std::vector<std::vector<Position>> layouts;
    std::vector<Position> spread, close, ties;
    for (int j = 0; j < 300; ++j) spread.push_back({unit(rng) * width, unit(rng) * height});
    for (int j = 0; j < 300; ++j) close.push_back({width / 2 + unit(rng) * 0.05, height / 2 + unit(rng) * 0.05});
    for (int j = 0; j < 40; ++j) ties.push_back({j % 2 ? 1000.0 : 1002.0, 1000.0});  // pairs at equal distances
    layouts = {spread, close, ties};
    for (const auto& at : layouts) {
      auto w = World::Create(WithCloudlets(width, at));
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      for (int q = 0; q < 500; ++q) {
        Position p{unit(rng) * width, unit(rng) * height};
        if (q % 5 == 0) p = at[static_cast<size_t>(q) % at.size()];  // on top of a cloudlet
        if (q % 5 == 1) p = {at[0].x_m + (unit(rng) - 0.5) * 0.1, at[0].y_m + (unit(rng) - 0.5) * 0.1};
        if (q % 5 == 2) p = {1001.0, 1000.0 + unit(rng)};  // halfway between the tied pairs
        const double share = q % 10 == 3 ? 0.0 : q % 10 == 4 ? 1.0 : unit(rng);
        std::vector<uint8_t> room(at.size());
        for (auto& r : room) r = unit(rng) < share;
        const int expected = ScanNearest(**w, p, room);
        ASSERT_EQ((*w)->Nearest(p, room.data()), expected)
            << "width " << width << ", " << at.size() << " cloudlets, query " << q << " (" << p.x_m << ", " << p.y_m << ")";
        ++compared;
        none += expected < 0;
      }
    }
  }
  EXPECT_EQ(compared, 2 * 3 * 500);
  EXPECT_GT(none, 0);
}

}  // namespace
}  // namespace cloudlet::sim
