// A spatial index over points on the Earth, for "nearest first" searches that look at only the few
// points that can still matter.
//
//   SphereIndex index({{ToUnitVector(a), 0}, {ToUnitVector(b), 1}, ...});   // once per change of positions
//   index.Search(ToUnitVector(here),
//       [](int32_t node, double box_chord2) { return box_chord2; },   // a lower bound on the node's points
//       [&](std::span<const SphereIndex::Item> leaf) {
//         for (const auto& item : leaf) { ... consider item.row ... }
//         return limit;  // in the bound's units: nothing above it can enter the answer any more
//       });
//
// Points are unit vectors (common/geo.h): the straight-line (chord) distance between two of them
// orders pairs exactly as the great-circle distance does, and ChordToKm converts one to the other.
// The index is a k-d tree over the vectors, split at the median of the widest axis, with at most
// kLeafSize points per leaf; each node keeps the box of its points. Search visits leaves nearest
// bound first (the caller's bound, from the squared chord to the node's box and whatever the caller
// knows of the node's points), and stops at the first node whose bound exceeds the limit the visitor
// returned last: the box's distance is a lower bound on every point inside, so with a bound that
// grows with it nothing skipped could have entered.
// There are no cells to tune: the tree adapts to where the points are (a dense city and an empty
// desert alike). Build is O(n log n); immutable afterwards, so searches are thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "cloudlet/common/geo.h"

namespace cloudlet::common {

// The chord between two points `km` apart on the surface (ChordToKm's inverse).
double KmToChord(double km);

class SphereIndex {
 public:
  struct Item {
    UnitVector at;
    int32_t row = 0;  // the caller's number for the point
  };
  static constexpr size_t kLeafSize = 8;
  static constexpr double kNoLimit = std::numeric_limits<double>::infinity();

  SphereIndex() = default;
  explicit SphereIndex(std::vector<Item> items);

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  // The points, leaf by leaf (each leaf is a contiguous run).
  std::span<const Item> items() const { return items_; }

  struct Node {
    double lo[3], hi[3];
    int32_t begin = 0, end = 0;       // the node's points: items_[begin, end)
    int32_t left = -1, right = -1;    // children; -1 for a leaf
  };
  // Parents come before their children (a pass from the back aggregates leaves upwards).
  std::span<const Node> nodes() const { return nodes_; }

  // Calls `visit(leaf)` for leaves in increasing `bound(node, squared chord to its box)` while that
  // bound is at most what `visit` last returned (kNoLimit to go on). Returns the number of leaves
  // visited.
  template <typename Bound, typename Visit>
  size_t Search(const UnitVector& from, Bound&& bound, Visit&& visit) const;

  // The same leaves as far as the answer goes, depth first: the nearer child (by bound) before the
  // farther, which is skipped if its bound exceeds the limit by the time it comes up. Leaves are not
  // visited in increasing bound, so more may be visited than by Search, but each costs less (no
  // heap): for a single best answer it is the faster of the two.
  template <typename Bound, typename Visit>
  size_t Descend(const UnitVector& from, Bound&& bound, Visit&& visit) const;

  // The squared chord from `p` to node `n`'s box (0 inside it).
  [[gnu::always_inline]] double BoxDistance2(int32_t n, const UnitVector& p) const {
    const Node& node = nodes_[static_cast<size_t>(n)];
    const double dx = std::max(std::max(node.lo[0] - p.x, p.x - node.hi[0]), 0.0);
    const double dy = std::max(std::max(node.lo[1] - p.y, p.y - node.hi[1]), 0.0);
    const double dz = std::max(std::max(node.lo[2] - p.z, p.z - node.hi[2]), 0.0);
    return dx * dx + dy * dy + dz * dz;
  }

 private:
  int32_t BuildNode(int32_t begin, int32_t end);
  // The nodes still to visit, nearest box first. Each thread keeps one heap so that a search
  // allocates nothing once warm; a search started from inside a visitor uses its own.
  struct Pending {
    double d2;  // the node's bound
    int32_t node;
  };
  struct Heap {
    std::vector<Pending> v;
    bool busy = false;
  };
  static Heap& ThreadHeap();
  static constexpr auto kLater = [](const Pending& a, const Pending& b) { return a.d2 > b.d2; };
  static void Push(std::vector<Pending>& heap, Pending p) {
    heap.push_back(p);
    std::push_heap(heap.begin(), heap.end(), kLater);
  }
  static Pending Pop(std::vector<Pending>& heap) {
    std::pop_heap(heap.begin(), heap.end(), kLater);
    const Pending p = heap.back();
    heap.pop_back();
    return p;
  }

  std::vector<Item> items_;
  std::vector<Node> nodes_;  // nodes_[0] is the root
};

template <typename Bound, typename Visit>
size_t SphereIndex::Search(const UnitVector& from, Bound&& bound, Visit&& visit) const {
  if (nodes_.empty()) return 0;
  Heap& shared = ThreadHeap();
  Heap own;
  Heap& heap = shared.busy ? own : shared;
  heap.busy = true;
  std::vector<Pending>& h = heap.v;
  h.clear();
  double limit = kNoLimit;
  size_t leaves = 0;
  Push(h, {bound(0, BoxDistance2(0, from)), 0});
  while (!h.empty()) {
    const Pending p = Pop(h);
    if (p.d2 > limit) break;
    const Node& n = nodes_[static_cast<size_t>(p.node)];
    if (n.left < 0) {
      ++leaves;
      limit = visit(std::span<const Item>(items_.data() + n.begin, static_cast<size_t>(n.end - n.begin)));
      continue;
    }
    for (int32_t child : {n.left, n.right}) {
      const double b = bound(child, BoxDistance2(child, from));
      if (b <= limit) Push(h, {b, child});
    }
  }
  h.clear();
  heap.busy = false;
  return leaves;
}

template <typename Bound, typename Visit>
size_t SphereIndex::Descend(const UnitVector& from, Bound&& bound, Visit&& visit) const {
  if (nodes_.empty()) return 0;
  Pending later[64];  // the farther children passed over on the way down: one per level at most
  int pending = 0;
  double limit = kNoLimit;
  size_t leaves = 0;
  Pending at{bound(0, BoxDistance2(0, from)), 0};
  for (;;) {
    if (at.d2 <= limit) {
      const Node& n = nodes_[static_cast<size_t>(at.node)];
      if (n.left < 0) {
        ++leaves;
        limit = visit(std::span<const Item>(items_.data() + n.begin, static_cast<size_t>(n.end - n.begin)));
      } else {
        Pending l{bound(n.left, BoxDistance2(n.left, from)), n.left}, r{bound(n.right, BoxDistance2(n.right, from)), n.right};
        if (r.d2 < l.d2) std::swap(l, r);
        later[pending++] = r;
        at = l;
        continue;
      }
    }
    if (pending == 0) return leaves;
    at = later[--pending];
  }
}

}  // namespace cloudlet::common
