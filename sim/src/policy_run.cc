#include "policy_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

namespace cloudlet::sim {

using common::Status;
using placement::Candidate;
using placement::PlacementRequest;

PolicyRun::PolicyRun(std::string name, std::unique_ptr<Policy> policy, const Scenario& s, const World& w,
                     const placement::Engine& engine, const placement::MigrationAdvisor& advisor, Remote* remote,
                     double heartbeat_s)
    : policy_(std::move(policy)), remote_(remote), heartbeat_s_(heartbeat_s), name_(std::move(name)), s_(s), w_(w),
      engine_(engine), advisor_(advisor), users_(static_cast<size_t>(s.users)),
      wake_at_(users_.size(), -std::numeric_limits<double>::infinity()), served_(users_.size()), cloudlets_(s.cloudlets.size()),
      rng_(s.seed ^ std::hash<std::string>{}(name_)), moves_(policy_->Moves()) {
  free_cpu_.resize(cloudlets_.size());
  free_mem_.resize(cloudlets_.size());
  room_.resize(s.apps.size() * cloudlets_.size());
  for (size_t j = 0; j < cloudlets_.size(); ++j) {
    Free(j);
    for (int app : s.cloudlets[j].cached) {
      cloudlets_[j].cache.emplace_back(app, -1.0);
      cloudlets_[j].cache_mb += s.apps[static_cast<size_t>(app)].base_vm_mb;
    }
  }
  reserved_.cpu_millis = Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(cloudlets_.size()));
  reserved_.mem_mb = Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(cloudlets_.size()));
  for (size_t a = 0; a < s.apps.size(); ++a) {
    requests_.push_back(w.RequestFor(a));
    const SimApp& app = s.apps[a];
    app_weight_.push_back(app.req_rate_hz * s.step_s);
    app_session_requests_.push_back(std::max(1.0, app.req_rate_hz * (app.session_s > 0 ? app.session_s : s.duration_s)));
  }
  for (size_t u = 0; u < users_.size(); ++u) {
    const size_t a = static_cast<size_t>(w.AppIndexOf(u));
    step_weight_ += app_weight_[a];
    if (s.apps[a].max_rtt_ms > 0) step_sla_weight_ += app_weight_[a];
  }
}

void PolicyRun::Step(double t, const std::vector<Position>& at, const std::vector<double>& jitter) {
  now_ = t;
  RefreshUsable();
  if (policy_->UsesEngine()) BuildSnapshot();
  if (remote_ && t >= next_heartbeat_ && error_.ok()) Heartbeat(t);
  reserved_.cpu_millis.setZero();
  reserved_.mem_mb.setZero();
  // Most users have nothing to decide in a step: only those whose time has come are looked at, and
  // the load they put on cloudlets follows their moves.
  woken_.clear();
  for (size_t u = 0; u < users_.size(); ++u) {
    if (t >= wake_at_[u]) woken_.push_back(static_cast<uint32_t>(u));
  }
  // They are scattered over arrays far larger than the caches: fetch a few users ahead.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < woken_.size(); ++i) {
    if (i + kAhead < woken_.size()) {
      const size_t next = woken_[i + kAhead];
      __builtin_prefetch(&users_[next]);
      __builtin_prefetch(reinterpret_cast<const char*>(&users_[next]) + 64);
      __builtin_prefetch(&at[next]);
      __builtin_prefetch(&served_[next], 1);
    }
    const size_t u = woken_[i];
    const int before = users_[u].cloudlet;
    Decide(t, u, at[u]);
    Settle(u);
    if (const int after = users_[u].cloudlet; after != before) {
      const auto cpu = static_cast<double>(w_.AppOf(u).cpu_millis);
      if (before >= 0) cloudlets_[static_cast<size_t>(before)].assigned_cpu -= cpu;
      if (after >= 0) cloudlets_[static_cast<size_t>(after)].assigned_cpu += cpu;
    }
  }
  // Queueing per cloudlet this step: the delay is linear in the service time.
  queue_per_service_ms_.resize(cloudlets_.size());
  for (size_t j = 0; j < cloudlets_.size(); ++j) queue_per_service_ms_[j] = QueueDelayMs(1, utilisation(j));
  Measure(t, at, jitter);
}

void PolicyRun::Heartbeat(double t) {
  next_heartbeat_ = t + heartbeat_s_;
  for (size_t j = 0; j < cloudlets_.size() && error_.ok(); ++j) {
    std::vector<int> cached;
    for (const auto& [app, since] : cloudlets_[j].cache) {
      if (since <= t) cached.push_back(app);
    }
    error_ = remote_->Heartbeat(j, std::min(1.0, utilisation(j)), std::max<int64_t>(0, static_cast<int64_t>(FreeCpu(j))),
                                std::max<int64_t>(0, static_cast<int64_t>(FreeMem(j))), cached);
  }
}

PolicySummary PolicyRun::Summary() const {
  PolicySummary p;
  p.policy = name_;
  p.mean_ms = response_.Mean();
  p.p50_ms = response_.Quantile(0.5);
  p.p95_ms = response_.Quantile(0.95);
  p.p99_ms = response_.Quantile(0.99);
  p.total_mean_ms = total_.Mean();
  p.total_p50_ms = total_.Quantile(0.5);
  p.total_p95_ms = total_.Quantile(0.95);
  p.total_p99_ms = total_.Quantile(0.99);
  p.sla_violation_pct = sla_weight_ > 0 ? 100 * violations_ / sla_weight_ : 0;
  p.cloud_pct = all_weight_ > 0 ? 100 * cloud_weight_ / all_weight_ : 0;
  p.migrations = migrations_;
  const double user_hours = s_.users * s_.duration_s / 3600;
  p.migrations_per_user_hour = user_hours > 0 ? static_cast<double>(migrations_) / user_hours : 0;
  p.downtime_s = downtime_s_;
  p.provisions = provision_s_.size();
  if (!provision_s_.empty()) {
    std::vector<double> sorted = provision_s_;
    std::sort(sorted.begin(), sorted.end());
    p.provision_mean_s = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(sorted.size());
    p.provision_p95_s = sorted[std::min(sorted.size() - 1, static_cast<size_t>(std::ceil(0.95 * static_cast<double>(sorted.size()))) - 1)];
    p.cache_hit_pct = 100.0 * static_cast<double>(cache_hits_) / static_cast<double>(sorted.size());
  }
  p.jain = jain_steps_ > 0 ? jain_sum_ / static_cast<double>(jain_steps_) : 0;
  p.decisions = decisions_;
  p.decision_mean_us = timed_ > 0 ? decision_ns_ / 1000.0 / static_cast<double>(timed_) : 0;
  return p;
}

void PolicyRun::BuildSnapshot() {
  std::vector<placement::CloudletState> states(cloudlets_.size());
  for (size_t j = 0; j < cloudlets_.size(); ++j) {
    const SimCloudlet& c = s_.cloudlets[j];
    placement::CloudletState& st = states[j];
    st.id = c.id;
    st.geo = w_.GeoOf(j);
    st.cpu_capacity = c.cpu_millis;
    st.mem_capacity = c.mem_mb;
    st.free_cpu = static_cast<int64_t>(std::floor(FreeCpu(j)));
    st.free_mem = static_cast<int64_t>(FreeMem(j));
    st.load = utilisation(j);
    st.wan_mbps = c.wan_mbps;
    for (const auto& [app, since] : cloudlets_[j].cache) {
      if (since <= now_) st.base_vms.push_back(s_.apps[static_cast<size_t>(app)].base_vm_digest);
    }
  }
  snapshot_ = placement::BuildSnapshot(states, &snapshot_);
}

void PolicyRun::RefreshUsable() {
  usable_.assign(s_.apps.size() * cloudlets_.size(), 0);
  usable_count_.assign(s_.apps.size(), 0);
  for (size_t j = 0; j < cloudlets_.size(); ++j) {
    for (const auto& [app, since] : cloudlets_[j].cache) {
      if (since <= now_) SetUsable(app, j, true);
    }
  }
}

void PolicyRun::SetUsable(int app, size_t j, bool usable) {
  uint8_t& flag = usable_[static_cast<size_t>(app) * cloudlets_.size() + j];
  size_t& count = usable_count_[static_cast<size_t>(app)];
  if (usable && !flag) ++count;
  if (!usable && flag) --count;
  flag = usable;
}

std::optional<Candidate> PolicyRun::Rank(size_t u, Position p, int only_row, int self_row) {
  PlacementRequest& req = requests_[static_cast<size_t>(w_.AppIndexOf(u))];
  req.client.geo = ToGeo(s_, p);
  req.k = 1;
  const double cpu = static_cast<double>(req.app.cpu_millis), mem = static_cast<double>(req.app.mem_mb);
  if (self_row >= 0) {  // its own hold does not count against the cloudlet it is on
    reserved_.cpu_millis[self_row] -= cpu;
    reserved_.mem_mb[self_row] -= mem;
  }
  const uint64_t tie_seed = rng_();  // drawn either way: a run's draws do not depend on which is asked
  auto best = engine_.Best(snapshot_, req, reserved_, tie_seed, only_row);
  if (self_row >= 0) {
    reserved_.cpu_millis[self_row] += cpu;
    reserved_.mem_mb[self_row] += mem;
  }
  return best;
}

double PolicyRun::Provision(size_t j, int app_index, double t) {
  const SimApp& app = s_.apps[static_cast<size_t>(app_index)];
  const bool hit = Cached(j, app_index);
  const double secs = engine_.ProvisionSeconds(hit ? placement::ProvisionMode::kOverlay : placement::ProvisionMode::kFull,
                                               requests_[static_cast<size_t>(app_index)].app, s_.cloudlets[j].wan_mbps);
  provision_s_.push_back(secs);
  cache_hits_ += hit;
  CloudletRun& c = cloudlets_[j];
  if (hit) {  // most recently used goes last
    auto it = std::find_if(c.cache.begin(), c.cache.end(), [&](const auto& e) { return e.first == app_index; });
    std::rotate(it, it + 1, c.cache.end());
  } else if (std::none_of(c.cache.begin(), c.cache.end(), [&](const auto& e) { return e.first == app_index; })) {
    const double cap = s_.cache.capacity_mb;
    if (cap > 0) {
      while (c.cache_mb + app.base_vm_mb > cap && s_.cache.eviction == "lru" && !c.cache.empty()) {
        c.cache_mb -= s_.apps[static_cast<size_t>(c.cache.front().first)].base_vm_mb;
        SetUsable(c.cache.front().first, j, false);
        c.cache.erase(c.cache.begin());
      }
    }
    if (cap <= 0 || c.cache_mb + app.base_vm_mb <= cap) {
      c.cache.emplace_back(app_index, t + secs);
      SetUsable(app_index, j, t + secs <= now_);
      c.cache_mb += app.base_vm_mb;
    }
  }
  return secs;
}

void PolicyRun::Hold(int j, const SimApp& app, double sign) {
  if (j < 0) return;
  CloudletRun& c = cloudlets_[static_cast<size_t>(j)];
  c.held_cpu += sign * static_cast<double>(app.cpu_millis);
  c.held_mem += sign * static_cast<double>(app.mem_mb);
  Free(static_cast<size_t>(j));
  // What the engine sees: the step's snapshot plus what was taken since. Capacity given back shows
  // in the next step's snapshot, as a registry sees it in the cloudlet's next heartbeat.
  if (sign > 0) {
    reserved_.cpu_millis[j] += static_cast<double>(app.cpu_millis);
    reserved_.mem_mb[j] += static_cast<double>(app.mem_mb);
  }
}

// A policy's decision, counted, and every kTimedEvery-th timed (wall clock) for timing.csv: reading
// the clock costs about as much as a simple policy's decision.
template <typename F>
int PolicyRun::Timed(F&& decide) {
  constexpr uint64_t kTimedEvery = 16;
  if (decisions_++ % kTimedEvery != 0) return decide();
  const auto started = std::chrono::steady_clock::now();
  const int target = decide();
  decision_ns_ += static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
  ++timed_;
  return target;
}

// The session ends (its capacity returns) and the next one starts where the policy chooses.
void PolicyRun::StartSession(double t, size_t u, Position p) {
  UserRun& r = users_[u];
  const SimApp& app = w_.AppOf(u);
  Hold(r.cloudlet, app, -1);
  Hold(r.pending, app, -1);
  if (remote_ && r.cloudlet != kNone && error_.ok()) error_ = remote_->Release(u);
  const int target = Timed([&] { return policy_->Choose(*this, u, p); });
  const bool first = r.cloudlet == kNone;
  r = UserRun{};
  r.cloudlet = target;
  r.session_end = t + (app.session_s > 0 ? app.session_s : s_.duration_s) * (first ? w_.FirstSessionShare(u) : 1.0);
  r.ready_at = t;
  r.next_check = t + s_.migration.check_interval_s;
  r.last_look = t;
  r.checked_at = p;
  policy_->Observe(u, t, p);
  if (target >= 0) {
    Hold(target, app, +1);
    r.ready_at = t + Provision(static_cast<size_t>(target), w_.AppIndexOf(u), t);
    r.blocked_s = r.ready_at - t;
  }
}

void PolicyRun::Decide(double t, size_t u, Position p) {
  now_ = t;
  UserRun& r = users_[u];
  const SimApp& app = w_.AppOf(u);
  if (r.cloudlet == kNone || t >= r.session_end) return StartSession(t, u, p);
  if (r.pending != kNone) {
    if (t < r.pending_ready || policy_->HoldMove(*this, u, p, t)) return;
    Hold(r.cloudlet, app, -1);
    r.cloudlet = r.pending;
    r.pending = kNone;
    r.down_until = t + s_.migration.downtime_s;
    r.blocked_s += s_.migration.downtime_s;
    ++migrations_;
    downtime_s_ += s_.migration.downtime_s;
    return;
  }
  if (t < r.next_check || t < r.ready_at) return;
  policy_->Observe(u, t, p);  // a position fix at every look
  // A user that has not moved far is reconsidered only now and then, as load changes too. The same
  // holds on the cloud: reconsidering those users at every look cost a third of the city's rankings
  // and served them no better.
  const double mx = p.x_m - r.checked_at.x_m, my = p.y_m - r.checked_at.y_m;
  const double moved = std::sqrt(mx * mx + my * my);
  r.next_check = t + s_.migration.check_interval_s;
  if (moved < s_.migration.check_distance_m && t < r.last_look + s_.migration.recheck_s) return;
  r.last_look = t;
  r.checked_at = p;
  const int target = Timed([&] { return policy_->Reconsider(*this, u, p, t); });
  if (target == kNone) return;
  // The target is provisioned while the user is still served where it is; then a short downtime.
  Hold(target, app, +1);
  r.pending = target;
  r.pending_since = t;
  r.pending_ready = t + Provision(static_cast<size_t>(target), w_.AppIndexOf(u), t);
}

void PolicyRun::Settle(size_t u) {
  const UserRun& r = users_[u];
  // Decide's tests in its order: a new session, a migration target ready, the next look (none for
  // a policy that keeps placements).
  double wake = r.pending != kNone ? r.pending_ready : std::max(r.next_check, r.ready_at);
  if (!moves_) wake = std::numeric_limits<double>::infinity();
  wake_at_[u] = r.cloudlet == kNone ? -std::numeric_limits<double>::infinity() : std::min(wake, r.session_end);
  const size_t a = static_cast<size_t>(w_.AppIndexOf(u));
  served_[u] = {std::max(r.ready_at, r.down_until), 1000 * r.blocked_s / app_session_requests_[a], r.cloudlet};
}

void PolicyRun::Measure(double t, const std::vector<Position>& at, const std::vector<double>& jitter) {
  // One pass over the users, with nothing but the two sums carried in floating point: weights
  // depend on the app alone, so the cloud's share and SLA misses are counted per app.
  const size_t apps = s_.apps.size();
  on_cloud_by_app_.assign(apps, 0);
  violations_by_app_.assign(apps, 0);
  double sum = 0, sum_total = 0;
  const double access_ms = s_.network.access_ms, per_km_ms = s_.network.per_km_ms, cloud_ms = s_.network.cloud_rtt_ms;
  const double* cx = w_.cloudlet_x().data();
  const double* cy = w_.cloudlet_y().data();
  const double* queue = queue_per_service_ms_.data();
  // In blocks: the figures first, then the histogram bins, so that the bins' cache misses overlap
  // rather than wait behind each user's arithmetic.
  constexpr size_t kBlock = 256;
  double block_response[kBlock], block_total[kBlock], block_weight[kBlock];
  for (size_t begin = 0; begin < users_.size(); begin += kBlock) {
    const size_t end = std::min(users_.size(), begin + kBlock);
    for (size_t u = begin; u < end; ++u) {
      const UserServed& r = served_[u];
      const size_t a = static_cast<size_t>(w_.AppIndexOf(u));
      const SimApp& app = s_.apps[a];
      const double w = app_weight_[a];
      double response;
      if (r.cloudlet >= 0) {
        const size_t j = static_cast<size_t>(r.cloudlet);
        const double dx = at[u].x_m - cx[j], dy = at[u].y_m - cy[j];
        response = access_ms + per_km_ms * std::sqrt(dx * dx + dy * dy) / 1000 + jitter[u] + app.service_ms * queue[j];
      } else {
        response = cloud_ms + jitter[u] + app.service_ms;
        ++on_cloud_by_app_[a];
      }
      // What the user waits in all, per request: the session's provisioning and downtime spread
      // over its requests (the amortisation of the cost model, docs/placement.md). A request made
      // while the app is not running (provisioning or downtime) misses any SLA.
      const double total = response + r.wait_ms;
      block_response[u - begin] = response;
      block_total[u - begin] = total;
      block_weight[u - begin] = w;
      sum += w * response;
      sum_total += w * total;
      violations_by_app_[a] += (app.max_rtt_ms > 0) & ((t < r.blocked_until) | (response > app.max_rtt_ms));
    }
    for (size_t k = 0; k < end - begin; ++k) {
      response_.AddToBin(block_response[k], block_weight[k]);
      total_.AddToBin(block_total[k], block_weight[k]);
    }
  }
  response_.AddTotals(step_weight_, sum);
  total_.AddTotals(step_weight_, sum_total);
  double cloud_w = 0, viol = 0;
  on_cloud_ = 0;
  for (size_t a = 0; a < apps; ++a) {
    cloud_w += app_weight_[a] * on_cloud_by_app_[a];
    viol += app_weight_[a] * violations_by_app_[a];
    on_cloud_ += static_cast<int>(on_cloud_by_app_[a]);
  }
  cloud_weight_ += cloud_w;
  const double weight = step_weight_, sla_w = step_sla_weight_;
  all_weight_ += weight;
  sla_weight_ += sla_w;
  violations_ += viol;
  step_mean_ms_ = weight > 0 ? sum / weight : 0;
  step_total_ms_ = weight > 0 ? sum_total / weight : 0;
  step_sla_pct_ = sla_w > 0 ? 100 * viol / sla_w : 0;
  double s1 = 0, s2 = 0;
  for (size_t j = 0; j < cloudlets_.size(); ++j) {
    const double x = utilisation(j);
    s1 += x;
    s2 += x * x;
  }
  if (s2 > 0) {
    jain_sum_ += s1 * s1 / (static_cast<double>(cloudlets_.size()) * s2);
    ++jain_steps_;
  }
}

}  // namespace cloudlet::sim
