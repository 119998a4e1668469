#include "cloudlet/common/sphere_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace cloudlet::common {
namespace {

double Chord(const UnitVector& a, const UnitVector& b) {
  const double dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z;
  return std::sqrt(dx * dx + dy * dy + dz * dz);
}

// The k nearest through the index (best first, or depth first), with the limit a caller would
// return: the k-th chord so far.
std::vector<std::pair<double, int>> Nearest(const SphereIndex& index, const UnitVector& from, size_t k, size_t* leaves,
                                            bool depth_first = false) {
  std::vector<std::pair<double, int>> best;
  auto by_distance = [](int32_t, double d2) { return d2; };
  auto visit = [&](std::span<const SphereIndex::Item> leaf) {
    for (const auto& item : leaf) best.emplace_back(Chord(from, item.at), item.row);
    std::sort(best.begin(), best.end());
    if (best.size() > k) best.resize(k);
    return best.size() < k ? SphereIndex::kNoLimit : best.back().first * best.back().first;
  };
  *leaves = depth_first ? index.Descend(from, by_distance, visit) : index.Search(from, by_distance, visit);
  return best;
}

// Whole-globe and one-country fleets, dense cities among empty land, points on the date line and
// at the poles: the index finds exactly what sorting every point finds, reading a few leaves.
TEST(SphereIndexTest, NearestEqualsSortingEverything) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> any_lat(-90, 90), any_lon(-180, 180), jitter(-0.2, 0.2);
  std::vector<SphereIndex::Item> items;
  std::vector<GeoPoint> cities;
  for (int c = 0; c < 30; ++c) cities.push_back({any_lat(rng) * 0.7, any_lon(rng)});
  for (int i = 0; i < 20'000; ++i) {
    GeoPoint p = i % 4 == 0 ? GeoPoint{any_lat(rng), any_lon(rng)} : cities[static_cast<size_t>(i) % cities.size()];
    if (i % 4 != 0) p = {std::clamp(p.lat + jitter(rng), -90.0, 90.0), std::clamp(p.lon + jitter(rng), -180.0, 180.0)};
    if (i % 997 == 0) p = {0, 180};
    if (i % 991 == 0) p = {90, 0};
    items.push_back({ToUnitVector(p), i});
  }
  const SphereIndex index(items);
  ASSERT_EQ(index.size(), items.size());
  for (int q = 0; q < 200; ++q) {
    GeoPoint at = q % 2 ? cities[static_cast<size_t>(q) % cities.size()] : GeoPoint{any_lat(rng), any_lon(rng)};
    if (q == 0) at = {0, -180};
    if (q == 1) at = {-90, 0};
    const UnitVector from = ToUnitVector(at);
    const size_t k = 1 + static_cast<size_t>(q) % 25;
    size_t leaves = 0;
    const auto found = Nearest(index, from, k, &leaves);
    std::vector<std::pair<double, int>> all;
    for (const auto& item : items) all.emplace_back(Chord(from, item.at), item.row);
    std::sort(all.begin(), all.end());
    all.resize(k);
    EXPECT_EQ(found, all) << "query " << q;
    size_t descended = 0;
    EXPECT_EQ(Nearest(index, from, k, &descended, true), all) << "query " << q << ", depth first";
    EXPECT_LT(descended, 400u) << "query " << q;
    EXPECT_LT(leaves, 200u) << "query " << q << " read " << leaves << " leaves of " << items.size() / SphereIndex::kLeafSize;
  }
}

TEST(SphereIndexTest, EmptyIndexVisitsNothingAndAVisitorMaySearchAgain) {
  const SphereIndex empty;
  auto by_distance = [](int32_t, double d2) { return d2; };
  EXPECT_EQ(empty.Search(ToUnitVector({1, 2}), by_distance, [](auto) { return SphereIndex::kNoLimit; }), 0u);
  EXPECT_EQ(empty.Descend(ToUnitVector({1, 2}), by_distance, [](auto) { return SphereIndex::kNoLimit; }), 0u);
  const SphereIndex index({{ToUnitVector({10, 10}), 0}, {ToUnitVector({10.1, 10}), 1}});
  int inner = 0;
  index.Search(ToUnitVector({10, 10}), by_distance, [&](std::span<const SphereIndex::Item> leaf) {
    inner += static_cast<int>(leaf.size());
    index.Search(ToUnitVector({0, 0}), by_distance, [&](std::span<const SphereIndex::Item> l) {
      inner += static_cast<int>(l.size());
      return SphereIndex::kNoLimit;
    });
    return SphereIndex::kNoLimit;
  });
  EXPECT_EQ(inner, 4);
}

TEST(SphereIndexTest, KmToChordInvertsChordToKm) {
  for (double km : {0.001, 1.0, 100.0, 5000.0, 20'000.0}) EXPECT_NEAR(ChordToKm(KmToChord(km)), km, 1e-6 * km);
  EXPECT_EQ(KmToChord(-1), 0);
  EXPECT_NEAR(KmToChord(1e9), 2.0, 1e-12);  // beyond half the globe: the diameter
}

}  // namespace
}  // namespace cloudlet::common
