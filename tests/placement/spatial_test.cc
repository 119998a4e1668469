// The engine's spatial search (a client with a position, a fleet of kSpatialRows or more) must
// rank exactly as one pass over every row does: same candidates, same order, same figures, and
// rejection counts that add up. Random fleets at country and city scale, with measured RTTs,
// coordinates, cloudlets without positions, reservations, warm rows, suspects and policies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "cloudlet/placement/engine.h"

namespace cloudlet::placement {
namespace {

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

struct World {
  std::vector<CloudletState> states;
  FleetSnapshot indexed, flat;  // the same rows, with and without the spatial index
};

// `spread_deg`: how far cloudlets scatter around the centres (0.2: a city; 8: a country).
World RandomWorld(std::mt19937& rng, int n, double spread_deg, bool some_without_geo) {
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> around(0, spread_deg / 3);
  const std::vector<common::GeoPoint> centres = {{40.4, -80.0}, {41.9, -87.6}, {34.0, -118.2}, {47.6, -122.3}, {29.8, -95.4}};
  World w;
  for (int i = 0; i < n; ++i) {
    CloudletState c;
    c.id = "cl-" + std::to_string(i);
    c.endpoint = "http://10.0.0.1:" + std::to_string(1000 + i);
    const auto& at = centres[static_cast<size_t>(i) % centres.size()];
    if (!some_without_geo || u(rng) > 0.05) {
      c.geo = common::GeoPoint{std::clamp(at.lat + around(rng), -90.0, 90.0), std::clamp(at.lon + around(rng), -180.0, 180.0)};
    }
    c.eligible = u(rng) > 0.03;
    c.suspect = u(rng) < 0.05;
    c.vm = u(rng) > 0.1;
    c.container = u(rng) > 0.2;
    c.cpu_capacity = 16'000 + static_cast<int64_t>(u(rng) * 48'000);
    c.mem_capacity = 65'536;
    c.free_cpu = static_cast<int64_t>(u(rng) * static_cast<double>(c.cpu_capacity));
    c.free_mem = static_cast<int64_t>(u(rng) * 65'536);
    c.load = u(rng) * 0.7;
    c.wan_mbps = 100 + u(rng) * 900;
    if (u(rng) < 0.2) {
      c.observed = true;
      c.launch_s = 0.5 + u(rng) * 2;
    }
    if (u(rng) < 0.4) c.base_vms = {Digest('a')};
    w.states.push_back(c);
  }
  w.indexed = BuildSnapshot(w.states);
  w.flat = w.indexed;
  w.flat.geo_index.reset();
  w.flat.no_geo_rows.clear();
  return w;
}

PlacementRequest RandomRequest(std::mt19937& rng, const World& w) {
  std::uniform_real_distribution<double> u(0, 1);
  PlacementRequest r;
  r.app = {.name = "app", .base_vm = Digest('a'), .base_vm_mb = 2000 + 6000 * u(rng), .overlay_mb = 50 + 300 * u(rng),
           .cpu_millis = static_cast<int64_t>(500 + 4000 * u(rng)), .mem_mb = static_cast<int64_t>(512 + 8000 * u(rng)),
           .isolation = u(rng) < 0.7 ? "vm" : "container", .service_ms = 20 * u(rng), .req_rate_hz = 1 + 20 * u(rng),
           .session_s = 60 + 1200 * u(rng), .max_rtt_ms = u(rng) < 0.3 ? 0 : 5 + 60 * u(rng)};
  r.client.id = "phone";
  const auto& near = w.states[static_cast<size_t>(u(rng) * static_cast<double>(w.states.size()))];
  const common::GeoPoint base = near.geo.value_or(common::GeoPoint{39, -95});
  r.client.geo = common::GeoPoint{std::clamp(base.lat + (u(rng) - 0.5), -90.0, 90.0), base.lon + (u(rng) - 0.5)};
  if (u(rng) < 0.5) {  // a few measured RTTs, some of them to far cloudlets and some impossibly low
    for (int m = 0; m < 4; ++m) {
      const auto& c = w.states[static_cast<size_t>(u(rng) * static_cast<double>(w.states.size()))];
      r.client.rtt_ms[c.id] = u(rng) < 0.2 ? 0.01 : 1 + 40 * u(rng);
    }
  }
  r.k = 1 + static_cast<int>(u(rng) * 10);
  return r;
}

void ExpectSameRanking(const Ranking& a, const Ranking& b, const std::string& where) {
  ASSERT_EQ(a.candidates.size(), b.candidates.size()) << where;
  for (size_t i = 0; i < a.candidates.size(); ++i) {
    const Candidate &x = a.candidates[i], &y = b.candidates[i];
    EXPECT_EQ(x.cloudlet_id, y.cloudlet_id) << where << " rank " << i;
    EXPECT_EQ(x.cost_ms, y.cost_ms) << where << " rank " << i;
    EXPECT_EQ(x.rtt_ms, y.rtt_ms) << where << " rank " << i;
    EXPECT_EQ(x.rtt_source, y.rtt_source) << where << " rank " << i;
    EXPECT_EQ(x.queue_ms, y.queue_ms) << where << " rank " << i;
    EXPECT_EQ(x.provision_mode, y.provision_mode) << where << " rank " << i;
    EXPECT_EQ(x.provision_s, y.provision_s) << where << " rank " << i;
    EXPECT_EQ(x.sla_met, y.sla_met) << where << " rank " << i;
  }
  EXPECT_EQ(a.fallback, b.fallback) << where;
  // Measured RTTs are checked on both paths; coordinates only for the rows a path examines.
  auto measured = [](const Ranking& r) {
    return std::count_if(r.implausible.begin(), r.implausible.end(),
                         [](const ImplausibleRtt& i) { return i.source == RttSource::kMeasured; });
  };
  EXPECT_EQ(measured(a), measured(b)) << where;
}

// Rejections: the spatial search counts the rows it examined by filter, and the rest as too_far. No
// filter counts more than in the full pass; with nothing skipped, every count is the full pass's.
// (A policy's vetoes depend on the order rows are met in, on either path.)
void ExpectCountsAddUp(const Ranking& spatial, const Ranking& full, const std::string& where) {
  auto count = [](const Ranking& r, const std::string& reason) {
    auto it = r.rejected.find(reason);
    return it == r.rejected.end() ? 0 : it->second;
  };
  const int too_far = count(spatial, "too_far");
  int filtered_spatial = 0, filtered_full = 0;
  for (const std::string reason : {"health", "isolation", "cpu", "memory", "saturated"}) {
    const int s = count(spatial, reason), f = count(full, reason);
    EXPECT_LE(s, f) << where << " " << reason;
    if (too_far == 0) {
      EXPECT_EQ(s, f) << where << " " << reason;
    }
    filtered_spatial += s;
    filtered_full += f;
  }
  EXPECT_GE(filtered_spatial + too_far, filtered_full) << where;
}

TEST(SpatialRankingTest, EqualsTheFullPassOnRandomFleets) {
  std::mt19937 rng(20261202);
  const Engine engine({});
  int pruned_somewhere = 0;
  for (const double spread : {0.3, 3.0, 12.0}) {
    for (const bool without_geo : {false, true}) {
      World w = RandomWorld(rng, 4000, spread, without_geo);
      ASSERT_TRUE(w.indexed.geo_index);
      std::uniform_real_distribution<double> u(0, 1);
      for (int q = 0; q < 150; ++q) {
        const PlacementRequest req = RandomRequest(rng, w);
        Reservations reserved;
        if (q % 2 == 0) {
          reserved.cpu_millis = Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(w.states.size()));
          reserved.mem_mb = Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(w.states.size()));
          for (int i = 0; i < 300; ++i) {
            const auto row = static_cast<Eigen::Index>(u(rng) * static_cast<double>(w.states.size()));
            reserved.cpu_millis[row] += 1000;
            reserved.mem_mb[row] += 1024;
          }
          reserved.warm_rows = {static_cast<int>(u(rng) * 4000), static_cast<int>(u(rng) * 4000)};
          // A placement re-ranked without its own hold: minus the request's demand on one row.
          reserved.cpu_millis[static_cast<Eigen::Index>(u(rng) * 4000)] = -static_cast<double>(req.app.cpu_millis);
        }
        Eigen::ArrayXd coords;
        if (q % 5 == 1) {  // network coordinates for most rows, a few of them faster than light
          coords = Eigen::ArrayXd::Constant(static_cast<Eigen::Index>(w.states.size()), std::nan(""));
          for (Eigen::Index i = 0; i < coords.size(); ++i) {
            if (u(rng) < 0.8) coords[i] = u(rng) < 0.02 ? 0.001 : 2 + 80 * u(rng);
          }
        }
        Policy policy;
        if (q % 7 == 3) {
          policy = [](const PlacementRequest&, int row) -> std::optional<std::string> {
            return row % 3 == 0 ? std::optional<std::string>("quota") : std::nullopt;
          };
        }
        const uint64_t seed = static_cast<uint64_t>(q);
        const Eigen::ArrayXd* c = coords.size() ? &coords : nullptr;
        auto spatial = engine.Rank(w.indexed, req, reserved, seed, c, policy);
        auto full = engine.Rank(w.flat, req, reserved, seed, c, policy);
        ASSERT_TRUE(spatial.ok() && full.ok());
        const std::string where = "spread " + std::to_string(spread) + " query " + std::to_string(q);
        ExpectSameRanking(*spatial, *full, where);
        ExpectCountsAddUp(*spatial, *full, where);
        EXPECT_EQ(full->rejected.count("too_far"), 0u) << where;
        pruned_somewhere += spatial->rejected.count("too_far") ? 1 : 0;
      }
    }
  }
  EXPECT_GT(pruned_somewhere, 300) << "the search should skip most of a country-wide fleet";
}

// Equal costs everywhere (no positions but the client's, the same load): ties are broken by the
// seed the same way on both paths.
TEST(SpatialRankingTest, TiesBreakAsInTheFullPass) {
  std::vector<CloudletState> states;
  for (int i = 0; i < 1000; ++i) {
    CloudletState c;
    c.id = "cl-" + std::to_string(i);
    c.geo = common::GeoPoint{45.0, 7.0 + (i % 2) * 1e-9};  // two spots, a nanodegree apart
    c.cpu_capacity = c.free_cpu = 16'000;
    c.mem_capacity = c.free_mem = 65'536;
    c.wan_mbps = 1000;
    states.push_back(c);
  }
  FleetSnapshot indexed = BuildSnapshot(states), flat = indexed;
  flat.geo_index.reset();
  PlacementRequest req;
  req.app = {.name = "app", .base_vm = Digest('b'), .cpu_millis = 100, .mem_mb = 100, .service_ms = 5};
  req.client.geo = common::GeoPoint{45.0, 7.0};
  req.k = 5;
  const Engine engine({});
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto a = engine.Rank(indexed, req, {}, seed), b = engine.Rank(flat, req, {}, seed);
    ASSERT_TRUE(a.ok() && b.ok());
    ExpectSameRanking(*a, *b, "seed " + std::to_string(seed));
  }
}

// RankRow costs one cloudlet as a ranking that vetoes every other would, without looking at them.
TEST(SpatialRankingTest, OneRowAloneEqualsVetoingTheRest) {
  std::mt19937 rng(99);
  const Engine engine({});
  World w = RandomWorld(rng, 2000, 3.0, true);
  std::uniform_int_distribution<int> any_row(0, 1999);
  for (int q = 0; q < 200; ++q) {
    const PlacementRequest req = RandomRequest(rng, w);
    Reservations reserved;
    reserved.warm_rows = {any_row(rng)};
    const int row = q % 3 == 0 ? reserved.warm_rows[0] : any_row(rng);
    auto alone = engine.RankRow(w.indexed, req, reserved, row);
    auto vetoed = engine.Rank(w.flat, req, reserved, 0, nullptr, [row](const PlacementRequest&, int r) {
      return r == row ? std::nullopt : std::optional<std::string>("other");
    });
    ASSERT_TRUE(alone.ok() && vetoed.ok());
    ASSERT_EQ(alone->candidates.size(), vetoed->candidates.size()) << "query " << q;
    if (!alone->candidates.empty()) {
      EXPECT_EQ(alone->candidates[0].cloudlet_id, w.states[static_cast<size_t>(row)].id);
      EXPECT_EQ(alone->candidates[0].cost_ms, vetoed->candidates[0].cost_ms) << "query " << q;
      EXPECT_EQ(alone->candidates[0].rtt_source, vetoed->candidates[0].rtt_source) << "query " << q;
      EXPECT_EQ(alone->candidates[0].provision_mode, vetoed->candidates[0].provision_mode) << "query " << q;
    }
  }
}

// Engine::Best (the simulator's ranking) picks Rank's first candidate, and RankRow's for one row.
TEST(SpatialRankingTest, TheBestAloneIsTheRankingsFirst) {
  std::mt19937 rng(5);
  const Engine engine({});
  std::uniform_real_distribution<double> u(0, 1);
  int found = 0;
  for (const double spread : {0.3, 12.0}) {
    World w = RandomWorld(rng, 3000, spread, true);
    std::uniform_int_distribution<int> any_row(0, 2999);
    for (int q = 0; q < 150; ++q) {
      PlacementRequest req = RandomRequest(rng, w);
      Reservations reserved;
      reserved.cpu_millis = Eigen::ArrayXd::Zero(3000);
      reserved.mem_mb = Eigen::ArrayXd::Zero(3000);
      for (int i = 0; i < 200; ++i) reserved.cpu_millis[any_row(rng)] += 2000;
      reserved.warm_rows = {any_row(rng)};
      const uint64_t seed = static_cast<uint64_t>(q) * 7919;
      const int row = q % 2 ? reserved.warm_rows[0] : any_row(rng);
      const auto best = engine.Best(w.indexed, req, reserved, seed);
      const auto best_row = engine.Best(w.indexed, req, reserved, seed, row);
      req.k = 1;
      const auto ranked = engine.Rank(w.flat, req, reserved, seed);
      const auto alone = engine.RankRow(w.flat, req, reserved, row);
      ASSERT_TRUE(ranked.ok() && alone.ok());
      for (const auto& [b, r] : {std::pair{&best, &*ranked}, std::pair{&best_row, &*alone}}) {
        const std::string where = "spread " + std::to_string(spread) + " query " + std::to_string(q);
        ASSERT_EQ(b->has_value(), !r->candidates.empty()) << where;
        if (!b->has_value()) continue;
        ++found;
        const Candidate &x = **b, &y = r->candidates[0];
        EXPECT_EQ(w.states[static_cast<size_t>(x.row)].id, y.cloudlet_id) << where;
        EXPECT_EQ(x.cost_ms, y.cost_ms) << where;
        EXPECT_EQ(x.rtt_ms, y.rtt_ms) << where;
        EXPECT_EQ(x.rtt_source, y.rtt_source) << where;
        EXPECT_EQ(x.queue_ms, y.queue_ms) << where;
        EXPECT_EQ(x.provision_mode, y.provision_mode) << where;
        EXPECT_EQ(x.provision_s, y.provision_s) << where;
        EXPECT_EQ(x.sla_met, y.sla_met) << where;
      }
    }
  }
  EXPECT_GT(found, 400);
}

// A measured RTT below what light allows over the distance is set aside (and reported), not used.
TEST(SpatialRankingTest, RttsFasterThanLightAreSetAside) {
  std::vector<CloudletState> states;
  for (int i = 0; i < 600; ++i) {
    CloudletState c;
    c.id = "cl-" + std::to_string(i);
    c.geo = common::GeoPoint{40.0 + 0.01 * i, -80.0};
    c.cpu_capacity = c.free_cpu = 16'000;
    c.mem_capacity = c.free_mem = 65'536;
    c.wan_mbps = 1000;
    states.push_back(c);
  }
  const FleetSnapshot fleet = BuildSnapshot(states);
  PlacementRequest req;
  req.app = {.name = "app", .base_vm = Digest('b'), .cpu_millis = 100, .mem_mb = 100, .service_ms = 5,
             .req_rate_hz = 100, .session_s = 3600};
  req.client.geo = common::GeoPoint{40.0, -80.0};
  // cl-500 is 555 km away: light in fibre needs 5.56 ms there and back.
  req.client.rtt_ms = {{"cl-500", 0.5}, {"cl-400", 30.0}};
  req.k = 3;
  auto r = Engine({}).Rank(fleet, req, {}, 1);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->implausible_count, 1);
  ASSERT_EQ(r->implausible.size(), 1u);
  EXPECT_EQ(r->implausible[0].cloudlet_id, "cl-500");
  EXPECT_EQ(r->implausible[0].source, RttSource::kMeasured);
  EXPECT_NEAR(r->implausible[0].floor_ms, 2 * common::GreatCircleKm({40.0, -80.0}, {45.0, -80.0}) / 200, 1e-9);
  EXPECT_EQ(r->candidates[0].cloudlet_id, "cl-0");  // not the impossible 0.5 ms
  EXPECT_GT(r->rejected.at("too_far"), 500);
}

}  // namespace
}  // namespace cloudlet::placement
