#include "world.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>

namespace cloudlet::sim {

common::Result<std::unique_ptr<World>> World::Create(const Scenario& s) {
  std::unique_ptr<World> w(new World(s));
  double extent = std::max(s.area.width_m, s.area.height_m);
  for (const auto& c : s.cloudlets) {
    w->geo_.push_back(ToGeo(s, c.at));
    w->x_.push_back(c.at.x_m);
    w->y_.push_back(c.at.y_m);
    w->xf_.push_back(static_cast<float>(c.at.x_m));
    w->yf_.push_back(static_cast<float>(c.at.y_m));
    extent = std::max({extent, std::abs(c.at.x_m), std::abs(c.at.y_m)});
  }
  // Each coordinate rounds by half a unit in the last place (2^-24 relative), each difference and
  // product by as much again: a distance in single precision is within a few units of the last
  // place of the extent, plus a relative 2^-22. Eight units is ample.
  w->float_error_m_ = 8 * std::ldexp(extent, -23);
  // Apps by share, in contiguous runs of user numbers (largest remainder for rounding).
  const size_t n = static_cast<size_t>(s.users);
  std::vector<size_t> counts(s.apps.size());
  size_t given = 0;
  for (size_t a = 0; a < s.apps.size(); ++a) {
    counts[a] = static_cast<size_t>(std::floor(s.apps[a].share * static_cast<double>(n)));
    given += counts[a];
  }
  for (size_t a = 0; given < n; a = (a + 1) % s.apps.size()) {
    ++counts[a];
    ++given;
  }
  for (size_t a = 0; a < s.apps.size(); ++a) w->app_of_.insert(w->app_of_.end(), counts[a], static_cast<int>(a));
  std::mt19937_64 rng(s.seed ^ 0x73657373696F6EULL);
  std::uniform_real_distribution<double> share(0, 1);
  for (size_t u = 0; u < n; ++u) w->first_share_.push_back(s.stagger_sessions ? 1 - share(rng) : 1.0);
  auto walkers = MobilityFactory::Create(s.mobility, s.area, s.seed);
  if (!walkers.ok()) return walkers.status();
  w->walkers_.reserve(n);
  for (size_t u = 0; u < n; ++u) w->walkers_.push_back(walkers->Make(u));
  return w;
}

int World::Nearest(Position p, const uint8_t* room) const {
  // Pass 1, in single precision: the least squared distance among the rows with room, kept as the
  // bits of a float (non-negative floats order as their bits do as integers, so the minimum is an
  // integer one, which the compiler vectorises). A row without room gets all bits set, above any
  // distance (+inf included), with no branch in the loop.
  constexpr uint32_t kNoRoom = 0xFFFFFFFFu;
  const float px = static_cast<float>(p.x_m), py = static_cast<float>(p.y_m);
  const size_t n = xf_.size();
  const float* xf = xf_.data();
  const float* yf = yf_.data();
  uint32_t least = kNoRoom;
  for (size_t j = 0; j < n; ++j) {
    const float dx = px - xf[j], dy = py - yf[j];
    least = std::min(least, std::bit_cast<uint32_t>(dx * dx + dy * dy) | (static_cast<uint32_t>(room[j]) - 1));
  }
  if (least == kNoRoom) return -1;
  // Pass 2, exact: every row that may be as near as the nearest lies within twice the single
  // precision error of the least distance found.
  const double least_m = std::sqrt(static_cast<double>(std::bit_cast<float>(least)));
  const double reach_m = least_m * (1 + 1e-6) + 2 * float_error_m_;
  const uint32_t reach_key = std::bit_cast<uint32_t>(static_cast<float>(reach_m * reach_m));
  int best = -1;
  double best_d2 = std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < n; ++j) {
    const float dx = px - xf[j], dy = py - yf[j];
    if ((std::bit_cast<uint32_t>(dx * dx + dy * dy) | (static_cast<uint32_t>(room[j]) - 1)) > reach_key) continue;
    const double ex = p.x_m - x_[j], ey = p.y_m - y_[j];
    if (const double d2 = ex * ex + ey * ey; d2 < best_d2) {
      best_d2 = d2;
      best = static_cast<int>(j);
    }
  }
  return best;
}

void World::Positions(double dt_s, std::vector<Position>& at) {
  for (size_t u = 0; u < walkers_.size(); ++u) at[u] = dt_s > 0 ? walkers_[u]->Advance(dt_s) : walkers_[u]->position();
}

placement::EngineParams World::EngineParamsFor() const {
  placement::EngineParams p;
  p.geo.access_ms = s_.network.access_ms;
  p.geo.path_stretch = 1;
  p.geo.fibre_km_per_ms = 2 / s_.network.per_km_ms;  // the engine's round trip per km is 2 * stretch / fibre
  p.cloud_rtt_ms = s_.network.cloud_rtt_ms;
  p.cloud_endpoint = "cloud";
  p.suspect_penalty_ms = 0;
  return p;
}

placement::PlacementRequest World::RequestFor(size_t app) const {
  const SimApp& a = s_.apps[app];
  placement::PlacementRequest r;
  r.app.name = a.name;
  r.app.base_vm = a.base_vm_digest;
  r.app.base_vm_mb = a.base_vm_mb;
  r.app.overlay_mb = a.overlay_mb;
  r.app.cpu_millis = a.cpu_millis;
  r.app.mem_mb = a.mem_mb;
  r.app.isolation = a.isolation;
  r.app.service_ms = a.service_ms;
  r.app.req_rate_hz = a.req_rate_hz;
  r.app.session_s = a.session_s;
  r.app.max_rtt_ms = a.max_rtt_ms;
  r.k = 1;
  return r;
}

}  // namespace cloudlet::sim
