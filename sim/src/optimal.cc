#include "optimal.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>

namespace cloudlet::sim {

namespace {

constexpr int kCloud = -2;
constexpr double kScale = 1000;  // costs in integer microseconds x weight, rounded down (keeps the bound)

double DistanceToCell(const Position& c, double x0, double y0, double size) {
  const double dx = std::max({x0 - c.x_m, 0.0, c.x_m - (x0 + size)});
  const double dy = std::max({y0 - c.y_m, 0.0, c.y_m - (y0 + size)});
  return std::hypot(dx, dy);
}

}  // namespace

std::vector<OptimalRun::Group> OptimalRun::GroupUsers(const std::vector<Position>& at) const {
  std::vector<Group> groups;
  const double cell = s_.optimal.cell_m;
  if (cell <= 0) {
    for (size_t u = 0; u < at.size(); ++u) groups.push_back({w_.AppIndexOf(u), at[u].x_m, at[u].y_m, {u}});
    return groups;
  }
  std::map<std::tuple<int, long, long>, size_t> index;
  for (size_t u = 0; u < at.size(); ++u) {
    const long cx = static_cast<long>(at[u].x_m / cell), cy = static_cast<long>(at[u].y_m / cell);
    auto [it, fresh] = index.try_emplace({w_.AppIndexOf(u), cx, cy}, groups.size());
    if (fresh) groups.push_back({w_.AppIndexOf(u), static_cast<double>(cx) * cell, static_cast<double>(cy) * cell, {}});
    groups[it->second].members.push_back(u);
  }
  return groups;
}

common::Result<std::vector<int>> OptimalRun::Assign(const std::vector<Group>& groups, const std::vector<double>& jitter) {
  const size_t n_users = jitter.size(), n_cl = s_.cloudlets.size();
  const double cell = s_.optimal.cell_m;
  double min_cpu = std::numeric_limits<double>::infinity(), min_ws = std::numeric_limits<double>::infinity();
  for (const SimApp& a : s_.apps) {
    min_cpu = std::min(min_cpu, static_cast<double>(a.cpu_millis));
    min_ws = std::min(min_ws, a.req_rate_hz * a.service_ms);
  }

  lemon::SmartDigraph g;
  using Arc = lemon::SmartDigraph::Arc;
  using Node = lemon::SmartDigraph::Node;
  std::vector<Node> group_nodes, cl_nodes;
  for (size_t i = 0; i < groups.size(); ++i) group_nodes.push_back(g.addNode());
  for (size_t j = 0; j < n_cl; ++j) cl_nodes.push_back(g.addNode());
  const Node sink = g.addNode();
  lemon::SmartDigraph::NodeMap<int64_t> supply(g, 0);
  lemon::SmartDigraph::ArcMap<int64_t> cost(g), upper(g);
  std::vector<std::vector<std::pair<Arc, int>>> group_arcs(groups.size());
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& gr = groups[i];
    const SimApp& app = s_.apps[static_cast<size_t>(gr.app)];
    const int64_t count = static_cast<int64_t>(gr.members.size());
    supply[group_nodes[i]] = count;
    for (size_t j = 0; j < n_cl; ++j) {
      if (app.cpu_millis > s_.cloudlets[j].cpu_millis * (1 - s_.cloudlets[j].base_load)) continue;
      const double d = cell > 0 ? DistanceToCell(s_.cloudlets[j].at, gr.x0, gr.y0, cell) : w_.DistanceM({gr.x0, gr.y0}, j);
      const double ms = s_.network.access_ms + s_.network.per_km_ms * d / 1000;
      const Arc a = g.addArc(group_nodes[i], cl_nodes[j]);
      cost[a] = static_cast<int64_t>(std::floor(app.req_rate_hz * ms * kScale));
      upper[a] = count;
      group_arcs[i].emplace_back(a, static_cast<int>(j));
    }
    const Arc cloud = g.addArc(group_nodes[i], sink);
    cost[cloud] = static_cast<int64_t>(std::floor(app.req_rate_hz * (s_.network.cloud_rtt_ms + app.service_ms) * kScale));
    upper[cloud] = count;
    group_arcs[i].emplace_back(cloud, kCloud);
  }
  supply[sink] = -static_cast<int64_t>(n_users);
  for (size_t j = 0; j < n_cl; ++j) {
    const SimCloudlet& c = s_.cloudlets[j];
    const double cap = static_cast<double>(c.cpu_millis);
    const auto slots = static_cast<int64_t>(std::floor(cap * (1 - c.base_load) / min_cpu + 1e-9));
    double previous = 0;
    for (int64_t k = 1; k <= std::min<int64_t>(slots, static_cast<int64_t>(n_users)); ++k) {
      const double total = static_cast<double>(k) * QueueDelayMs(min_ws, c.base_load + static_cast<double>(k) * min_cpu / cap);
      const Arc a = g.addArc(cl_nodes[j], sink);
      cost[a] = static_cast<int64_t>(std::floor((total - previous) * kScale));
      upper[a] = 1;
      previous = total;
    }
  }
  lemon::NetworkSimplex<lemon::SmartDigraph, int64_t, int64_t> ns(g);
  ns.upperMap(upper).costMap(cost).supplyMap(supply);
  if (ns.run() != decltype(ns)::OPTIMAL) return common::Status::Internal("the optimal assignment's flow problem has no solution");

  // The bound, then one assignment that realises the flow (a group's members in order).
  double weight = 0, jitter_sum = 0;
  for (size_t u = 0; u < n_users; ++u) {
    const double w = w_.AppOf(u).req_rate_hz;
    weight += w;
    jitter_sum += w * jitter[u];
  }
  lower_bound_ms_ = weight > 0 ? (static_cast<double>(ns.totalCost<int64_t>()) / kScale + jitter_sum) / weight : 0;
  std::vector<int> where(n_users, kCloud);
  std::fill(assigned_cpu_.begin(), assigned_cpu_.end(), 0.0);
  for (size_t i = 0; i < groups.size(); ++i) {
    size_t next = 0;
    for (const auto& [arc, j] : group_arcs[i]) {
      for (int64_t f = ns.flow(arc); f > 0 && next < groups[i].members.size(); --f) {
        const size_t u = groups[i].members[next++];
        where[u] = j;
        if (j >= 0) assigned_cpu_[static_cast<size_t>(j)] += static_cast<double>(w_.AppOf(u).cpu_millis);
      }
    }
  }
  return where;
}

common::Status OptimalRun::Solve(double t, const std::vector<Position>& at, const std::vector<double>& jitter, double weight_s) {
  const auto started = std::chrono::steady_clock::now();
  auto where = Assign(GroupUsers(at), jitter);
  if (!where.ok()) return where.status();
  Record(t, at, jitter, weight_s, std::move(*where));
  ++solves_;
  solve_ns_ += static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
  return common::Status::Ok();
}

// What users see under the assignment `where` this step, added to the run's figures.
void OptimalRun::Record(double t, const std::vector<Position>& at, const std::vector<double>& jitter, double weight_s,
                        std::vector<int> where) {
  const size_t n_users = at.size(), n_cl = s_.cloudlets.size();
  double weight = 0;
  for (size_t u = 0; u < n_users; ++u) weight += w_.AppOf(u).req_rate_hz;
  double sum = 0, sla_w = 0, viol = 0;
  int on_cloud = 0;
  for (size_t u = 0; u < n_users; ++u) {
    const SimApp& app = w_.AppOf(u);
    const double w = app.req_rate_hz * weight_s;
    double ms;
    if (where[u] >= 0) {
      const size_t j = static_cast<size_t>(where[u]);
      ms = w_.NetworkMs(at[u], j) + jitter[u] + QueueDelayMs(app.service_ms, utilisation(j));
    } else {
      ms = s_.network.cloud_rtt_ms + jitter[u] + app.service_ms;
      ++on_cloud;
      cloud_weight_ += w;
    }
    response_.Add(ms, w);
    sum += w * ms;
    all_weight_ += w;
    if (app.max_rtt_ms > 0) {
      sla_w += w;
      viol += ms > app.max_rtt_ms ? w : 0;
    }
    if (!previous_.empty() && previous_[u] != where[u]) ++migrations_;
  }
  previous_ = std::move(where);
  sla_weight_ += sla_w;
  violations_ += viol;
  double s1 = 0, s2 = 0;
  for (size_t j = 0; j < n_cl; ++j) {
    s1 += utilisation(j);
    s2 += utilisation(j) * utilisation(j);
  }
  jain_sum_ += s2 > 0 ? s1 * s1 / (static_cast<double>(n_cl) * s2) : 0;
  Solved solved{t, lower_bound_ms_, weight > 0 ? sum / (weight * weight_s) : 0, sla_w > 0 ? 100 * viol / sla_w : 0, on_cloud,
                migrations_, std::vector<float>(n_cl)};
  for (size_t j = 0; j < n_cl; ++j) solved.utilisation[j] = static_cast<float>(utilisation(j));
  history_.push_back(std::move(solved));
}

PolicySummary OptimalRun::Summary() const {
  PolicySummary p;
  p.policy = "optimal";
  p.mean_ms = p.total_mean_ms = response_.Mean();
  p.p50_ms = p.total_p50_ms = response_.Quantile(0.5);
  p.p95_ms = p.total_p95_ms = response_.Quantile(0.95);
  p.p99_ms = p.total_p99_ms = response_.Quantile(0.99);
  p.sla_violation_pct = sla_weight_ > 0 ? 100 * violations_ / sla_weight_ : 0;
  p.cloud_pct = all_weight_ > 0 ? 100 * cloud_weight_ / all_weight_ : 0;
  p.migrations = migrations_;
  const double user_hours = s_.users * s_.duration_s / 3600;
  p.migrations_per_user_hour = user_hours > 0 ? static_cast<double>(migrations_) / user_hours : 0;
  p.jain = solves_ > 0 ? jain_sum_ / static_cast<double>(solves_) : 0;
  p.decisions = solves_;
  p.decision_mean_us = solves_ > 0 ? solve_ns_ / 1000.0 / static_cast<double>(solves_) : 0;
  return p;
}

}  // namespace cloudlet::sim
