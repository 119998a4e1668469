// The `optimal` policy: at a step, the assignment of users to cloudlets (or the cloud) that
// minimises the request-weighted sum of network plus queueing latency under capacity, solved exactly
// as a min-cost flow (LEMON's network simplex). Queueing's convex cost enters as parallel unit arcs of
// increasing marginal cost. With mixed app sizes every user counts as the smallest app and pays the
// smallest weighted service time: a relaxation, so the value stays a lower bound. Users may be grouped
// by cell (scenario `optimal.cell_m`); a group's distance to a cloudlet is then the nearest point of
// its cell, which keeps the bound. Provisioning and migration cost are ignored.
#pragma once

#include <vector>

#include "cloudlet/common/status.h"
#include "cloudlet/sim/simulator.h"
#include "histogram.h"
#include "world.h"

namespace cloudlet::sim {

class OptimalRun {
 public:
  OptimalRun(const Scenario& s, const World& w) : s_(s), w_(w), assigned_cpu_(s.cloudlets.size(), 0.0) {}

  // Solves the step at time t; its samples count for `weight_s` seconds of requests.
  common::Status Solve(double t, const std::vector<Position>& at, const std::vector<double>& jitter, double weight_s);

  // What each solve found, in time order.
  struct Solved {
    double t_s;
    double lower_bound_ms;  // the flow's value: a lower bound on the mean
    double mean_ms;         // the mean of the assignment that realises it
    double sla_violation_pct;
    int on_cloud;
    uint64_t migrations;  // so far
    std::vector<float> utilisation;
  };
  const std::vector<Solved>& history() const { return history_; }
  PolicySummary Summary() const;
  const Histogram& response() const { return response_; }

 private:
  // Users solved together: (app, cell) when cells are used, else one per user.
  struct Group {
    int app;
    double x0, y0;  // the cell's corner (cells) or the user's position
    std::vector<size_t> members;
  };
  std::vector<Group> GroupUsers(const std::vector<Position>& at) const;
  // Solves the min-cost flow for the groups, sets the lower bound and the cloudlets' assigned CPU,
  // and returns each user's cloudlet (kCloud: the cloud).
  common::Result<std::vector<int>> Assign(const std::vector<Group>& groups, const std::vector<double>& jitter);
  void Record(double t, const std::vector<Position>& at, const std::vector<double>& jitter, double weight_s,
              std::vector<int> where);

  const Scenario& s_;
  const World& w_;
  double utilisation(size_t j) const {
    return s_.cloudlets[j].base_load + assigned_cpu_[j] / static_cast<double>(s_.cloudlets[j].cpu_millis);
  }

  std::vector<double> assigned_cpu_;
  std::vector<Solved> history_;
  std::vector<int> previous_;  // by user: cloudlet (-2 cloud) at the last solve
  Histogram response_;
  double lower_bound_ms_ = 0;
  double sla_weight_ = 0, violations_ = 0, all_weight_ = 0, cloud_weight_ = 0;
  double jain_sum_ = 0, solve_ns_ = 0;
  uint64_t migrations_ = 0, solves_ = 0;
};

}  // namespace cloudlet::sim
