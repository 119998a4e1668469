#include "cloudlet/common/sphere_index.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cloudlet::common {

double KmToChord(double km) {
  if (!(km > 0)) return 0;
  return 2 * std::sin(std::min(km / (2 * kEarthRadiusKm), std::numbers::pi / 2));
}

namespace {
double Coord(const UnitVector& u, int axis) { return axis == 0 ? u.x : axis == 1 ? u.y : u.z; }
}  // namespace

SphereIndex::SphereIndex(std::vector<Item> items) : items_(std::move(items)) {
  if (items_.empty()) return;
  nodes_.reserve(2 * (items_.size() / kLeafSize + 1));
  BuildNode(0, static_cast<int32_t>(items_.size()));
}

int32_t SphereIndex::BuildNode(int32_t begin, int32_t end) {
  const auto index = static_cast<int32_t>(nodes_.size());
  nodes_.emplace_back();
  Node n;
  n.begin = begin;
  n.end = end;
  for (int a = 0; a < 3; ++a) {
    n.lo[a] = std::numeric_limits<double>::infinity();
    n.hi[a] = -std::numeric_limits<double>::infinity();
  }
  for (int32_t i = begin; i < end; ++i) {
    for (int a = 0; a < 3; ++a) {
      const double c = Coord(items_[static_cast<size_t>(i)].at, a);
      n.lo[a] = std::min(n.lo[a], c);
      n.hi[a] = std::max(n.hi[a], c);
    }
  }
  if (static_cast<size_t>(end - begin) > kLeafSize) {
    int axis = 0;
    for (int a = 1; a < 3; ++a) {
      if (n.hi[a] - n.lo[a] > n.hi[axis] - n.lo[axis]) axis = a;
    }
    const int32_t mid = begin + (end - begin) / 2;
    std::nth_element(items_.begin() + begin, items_.begin() + mid, items_.begin() + end,
                     [axis](const Item& a, const Item& b) { return Coord(a.at, axis) < Coord(b.at, axis); });
    n.left = BuildNode(begin, mid);
    n.right = BuildNode(mid, end);
  }
  nodes_[static_cast<size_t>(index)] = n;
  return index;
}

SphereIndex::Heap& SphereIndex::ThreadHeap() {
  thread_local Heap heap;
  return heap;
}

}  // namespace cloudlet::common
