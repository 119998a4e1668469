#include "cloudlet/sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <thread>

#include <Eigen/Core>

#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/migration.h"
#include "histogram.h"
#include "kalman.h"
#include "optimal.h"
#include "step_pool.h"
#include "world.h"

namespace cloudlet::sim {

using common::Result;
using common::Status;
using placement::Candidate;
using placement::Engine;
using placement::FleetSnapshot;
using placement::MigrationAdvisor;
using placement::PlacementRequest;
using placement::Reservations;

const std::vector<std::string>& AllPolicies() {
  static const std::vector<std::string> all = {"cost", "cost-predict", "nearest", "sinfonia", "k8s", "random", "optimal"};
  return all;
}

namespace {

constexpr int kNone = -1;
constexpr int kCloud = -2;
constexpr size_t kTrackedUsers = 12;
constexpr size_t kLoadSamples = 240;  // points per cloudlet on the load plot

using Clock = std::chrono::steady_clock;

struct UserRun {
  int cloudlet = kNone;
  double ready_at = 0;     // provisioning done: served from then on
  double down_until = 0;   // migration downtime
  double session_end = 0;
  int pending = kNone;     // migration target being provisioned while the user is served here
  double pending_ready = 0;
  double pending_since = 0;
  double next_check = 0;
  Position checked_at;
  double blocked_s = 0;    // this session's provisioning and migration downtime so far
  double last_look = 0;
};

struct CloudletRun {
  double held_cpu = 0, held_mem = 0;  // assigned plus migration targets being provisioned
  double assigned_cpu = 0;            // users whose app runs here (load)
  // Cached base VMs: app -> time it became available (a fetch in flight is not yet usable).
  std::vector<std::pair<int, double>> cache;  // (app, available_at), least recently used first
  double cache_mb = 0;
};

// One policy's copy of the world.
class PolicyRun {
 public:
  PolicyRun(std::string name, const Scenario& s, const World& w, const Engine& engine, const MigrationAdvisor& advisor,
            Remote* remote = nullptr, double heartbeat_s = 5)
      : remote_(remote), heartbeat_s_(heartbeat_s), name_(std::move(name)), s_(s), w_(w), engine_(engine), advisor_(advisor), users_(static_cast<size_t>(s.users)),
        cloudlets_(s.cloudlets.size()), rng_(s.seed ^ std::hash<std::string>{}(name_)),
        response_(), total_() {
    for (size_t j = 0; j < cloudlets_.size(); ++j) {
      for (int app : s.cloudlets[j].cached) {
        cloudlets_[j].cache.emplace_back(app, -1.0);
        cloudlets_[j].cache_mb += s.apps[static_cast<size_t>(app)].base_vm_mb;
      }
    }
    reserved_.cpu_millis = Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(cloudlets_.size()));
    reserved_.mem_mb = Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(cloudlets_.size()));
    if (name_ == "cost-predict") filters_.resize(users_.size());
    for (size_t a = 0; a < s.apps.size(); ++a) requests_.push_back(w.RequestFor(a));
  }

  const std::string& name() const { return name_; }

  // Decisions of one step, then the latency every user sees.
  void Step(double t, const std::vector<Position>& at, const std::vector<double>& jitter) {
    now_ = t;
    const bool engine_policy = name_ == "cost" || name_ == "cost-predict";
    if (engine_policy) BuildSnapshot();
    if (remote_ && t >= next_heartbeat_ && error_.ok()) {
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
    reserved_.cpu_millis.setZero();
    reserved_.mem_mb.setZero();
    for (size_t u = 0; u < users_.size(); ++u) Decide(t, u, at[u]);
    for (auto& c : cloudlets_) c.assigned_cpu = 0;
    for (size_t u = 0; u < users_.size(); ++u) {
      if (users_[u].cloudlet >= 0) cloudlets_[static_cast<size_t>(users_[u].cloudlet)].assigned_cpu += w_.AppOf(u).cpu_millis;
    }
    // Queueing per cloudlet this step: the delay is linear in the service time.
    queue_per_service_ms_.resize(cloudlets_.size());
    for (size_t j = 0; j < cloudlets_.size(); ++j) queue_per_service_ms_[j] = QueueDelayMs(1, utilisation(j));
    Measure(t, at, jitter);
  }

  // The first failure talking to the registry in live mode.
  const Status& error() const { return error_; }
  const std::vector<UserRun>& users() const { return users_; }
  const std::vector<CloudletRun>& cloudlets() const { return cloudlets_; }
  double step_mean_ms() const { return step_mean_ms_; }
  double utilisation(size_t j) const {
    return s_.cloudlets[j].base_load + cloudlets_[j].assigned_cpu / static_cast<double>(s_.cloudlets[j].cpu_millis);
  }

  PolicySummary Summary() const {
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
    p.decision_mean_us = decisions_ > 0 ? decision_ns_ / 1000.0 / static_cast<double>(decisions_) : 0;
    return p;
  }
  const Histogram& response() const { return response_; }
  SeriesRow Row(double t, int index) const {
    return {t, index, step_mean_ms_, step_total_ms_, step_sla_pct_, on_cloud_, migrations_};
  }

 private:
  // The fleet as the engine sees it at the start of a step: what agents would report.
  void BuildSnapshot() {
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
    snapshot_ = placement::BuildSnapshot(states);
  }

  // What a cloudlet can still take: capacity less its background load and what placements hold.
  double FreeCpu(size_t j) const {
    const SimCloudlet& c = s_.cloudlets[j];
    return static_cast<double>(c.cpu_millis) * (1 - c.base_load) - cloudlets_[j].held_cpu;
  }
  double FreeMem(size_t j) const { return static_cast<double>(s_.cloudlets[j].mem_mb) - cloudlets_[j].held_mem; }
  bool Fits(size_t j, const SimApp& app) const {
    return FreeCpu(j) >= static_cast<double>(app.cpu_millis) && FreeMem(j) >= static_cast<double>(app.mem_mb);
  }
  bool Cached(size_t j, int app) const {
    for (const auto& [a, since] : cloudlets_[j].cache) {
      if (a == app && since <= now_) return true;
    }
    return false;
  }

  // The engine's ranking for user u at `p`; `only_row` >= 0 evaluates that cloudlet alone.
  std::optional<Candidate> Rank(size_t u, Position p, int only_row, int self_row) {
    PlacementRequest& req = requests_[static_cast<size_t>(w_.AppIndexOf(u))];
    req.client.geo = ToGeo(s_, p);
    req.k = 1;
    const double cpu = static_cast<double>(req.app.cpu_millis), mem = static_cast<double>(req.app.mem_mb);
    if (self_row >= 0) {  // its own hold does not count against the cloudlet it is on
      reserved_.cpu_millis[self_row] -= cpu;
      reserved_.mem_mb[self_row] -= mem;
    }
    placement::Policy only;
    if (only_row >= 0) {
      only = [only_row](const PlacementRequest&, int row) -> std::optional<std::string> {
        return row == only_row ? std::nullopt : std::optional<std::string>("other");
      };
    }
    auto ranked = engine_.Rank(snapshot_, req, reserved_, rng_(), nullptr, only);
    if (self_row >= 0) {
      reserved_.cpu_millis[self_row] += cpu;
      reserved_.mem_mb[self_row] += mem;
    }
    if (!ranked.ok() || ranked->candidates.empty()) return std::nullopt;
    return ranked->candidates.front();
  }

  int NearestWithRoom(Position p, const SimApp& app) const {
    int best = kCloud;
    double best_d = std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < cloudlets_.size(); ++j) {
      const double d = w_.DistanceM(p, j);
      if (d < best_d && Fits(j, app)) {
        best_d = d;
        best = static_cast<int>(j);
      }
    }
    return best;
  }

  // Where a new session goes.
  int Choose(size_t u, Position p) {
    const SimApp& app = w_.AppOf(u);
    if (remote_) {
      auto placed = remote_->Place(u, w_.AppIndexOf(u), ToGeo(s_, p));
      if (!placed.ok()) error_ = placed.status();
      return placed.ok() ? *placed : kCloud;
    }
    if (name_ == "cost" || name_ == "cost-predict") {
      auto best = Rank(u, p, -1, -1);
      if (!best) return kCloud;
      // The Level-1 cloud is warm and has no queue to speak of: it wins when the best cloudlet's
      // cost (including amortised provisioning) is higher.
      if (best->cost_ms > s_.network.cloud_rtt_ms + app.service_ms) return kCloud;
      return best->row;
    }
    if (name_ == "nearest") return NearestWithRoom(p, app);
    std::vector<int> fit;
    for (size_t j = 0; j < cloudlets_.size(); ++j) {
      if (Fits(j, app)) fit.push_back(static_cast<int>(j));
    }
    if (fit.empty()) return kCloud;
    if (name_ == "random") return fit[std::uniform_int_distribution<size_t>(0, fit.size() - 1)(rng_)];
    if (name_ == "sinfonia") {
      // Sinfonia's tier-2 match: cloudlets on the client's network first (here: whose coverage it
      // is in), then by location (nearest), then random.
      std::vector<int> local;
      for (int j : fit) {
        if (w_.DistanceM(p, static_cast<size_t>(j)) <= s_.network.coverage_m) local.push_back(j);
      }
      if (!local.empty()) return local[std::uniform_int_distribution<size_t>(0, local.size() - 1)(rng_)];
      return NearestWithRoom(p, app);
    }
    // k8s: NodeResourcesFit with LeastAllocated plus ImageLocality, default weights 1 and 1; the
    // highest score wins, ties at random (as the scheduler's selectHost does).
    const int uapp = w_.AppIndexOf(u);
    int nodes_with_image = 0;
    for (size_t j = 0; j < cloudlets_.size(); ++j) nodes_with_image += Cached(j, uapp);
    const double spread = static_cast<double>(nodes_with_image) / static_cast<double>(cloudlets_.size());
    constexpr double kMinImageMb = 23, kMaxImageMb = 1000;  // the plugin's thresholds per container
    double best_score = -1;
    std::vector<int> ties;
    for (int j : fit) {
      const SimCloudlet& c = s_.cloudlets[static_cast<size_t>(j)];
      const CloudletRun& r = cloudlets_[static_cast<size_t>(j)];
      const double cpu_cap = static_cast<double>(c.cpu_millis), mem_cap = static_cast<double>(c.mem_mb);
      const double cpu_req = c.base_load * cpu_cap + r.held_cpu + static_cast<double>(app.cpu_millis);
      const double mem_req = r.held_mem + static_cast<double>(app.mem_mb);
      const double least = (std::max(0.0, (cpu_cap - cpu_req) / cpu_cap) + std::max(0.0, (mem_cap - mem_req) / mem_cap)) * 50;
      double image = 0;
      if (Cached(static_cast<size_t>(j), uapp)) {
        const double sum = std::clamp(app.base_vm_mb * spread, kMinImageMb, kMaxImageMb);
        image = 100 * (sum - kMinImageMb) / (kMaxImageMb - kMinImageMb);
      }
      const double score = std::floor(least) + std::floor(image);  // plugins score in whole numbers
      if (score > best_score) {
        best_score = score;
        ties.assign(1, j);
      } else if (score == best_score) {
        ties.push_back(j);
      }
    }
    return ties[std::uniform_int_distribution<size_t>(0, ties.size() - 1)(rng_)];
  }

  // Where a placed user should move, or kNone to stay.
  int Reconsider(size_t u, Position p, double t) {
    UserRun& r = users_[u];
    const SimApp& app = w_.AppOf(u);
    if (remote_) {
      auto moved = remote_->Move(u, w_.AppIndexOf(u), ToGeo(s_, p));
      if (!moved.ok()) error_ = moved.status();
      return moved.ok() && *moved != r.cloudlet ? *moved : kNone;
    }
    if (name_ == "nearest") {  // follow-me: always the closest cloudlet with room
      const int n = NearestWithRoom(p, app);
      return n >= 0 && n != r.cloudlet ? n : kNone;
    }
    if (name_ != "cost" && name_ != "cost-predict") return kNone;  // these keep a placement for the session
    Position look = p;
    if (name_ == "cost-predict") look = filters_[u].Predict(s_.predict.horizon_s, s_.area);
    const auto go = Rank(u, look, -1, r.cloudlet);
    if (!go || go->row == r.cloudlet) return kNone;
    placement::MigrationOption stay{"here", std::numeric_limits<double>::infinity()};
    if (r.cloudlet >= 0) {
      if (auto here = Rank(u, look, r.cloudlet, r.cloudlet)) stay.response_ms = here->rtt_ms + here->queue_ms;
    } else {
      stay.response_ms = s_.network.cloud_rtt_ms + app.service_ms;
    }
    const double remaining = app.req_rate_hz * std::max(0.0, r.session_end - t);
    const auto advice = advisor_.Advise(stay, {"there", go->rtt_ms + go->queue_ms}, remaining, go->provision_s);
    return advice.migrate ? go->row : kNone;
  }

  double Provision(size_t j, int app_index, double t) {
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
          c.cache.erase(c.cache.begin());
        }
      }
      if (cap <= 0 || c.cache_mb + app.base_vm_mb <= cap) {
        c.cache.emplace_back(app_index, t + secs);
        c.cache_mb += app.base_vm_mb;
      }
    }
    return secs;
  }

  void Hold(int j, const SimApp& app, double sign) {
    if (j < 0) return;
    CloudletRun& c = cloudlets_[static_cast<size_t>(j)];
    c.held_cpu += sign * static_cast<double>(app.cpu_millis);
    c.held_mem += sign * static_cast<double>(app.mem_mb);
    reserved_.cpu_millis[j] += sign * static_cast<double>(app.cpu_millis);
    reserved_.mem_mb[j] += sign * static_cast<double>(app.mem_mb);
  }

  void Decide(double t, size_t u, Position p) {
    now_ = t;
    UserRun& r = users_[u];
    const SimApp& app = w_.AppOf(u);
    if (r.cloudlet == kNone || t >= r.session_end) {
      // The session ends (its capacity returns) and the next one starts.
      Hold(r.cloudlet, app, -1);
      Hold(r.pending, app, -1);
      if (remote_ && r.cloudlet != kNone && error_.ok()) error_ = remote_->Release(u);
      const auto started = Clock::now();
      const int target = Choose(u, p);
      decision_ns_ += static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
      ++decisions_;
      const bool first = r.cloudlet == kNone;
      r = UserRun{};
      r.cloudlet = target;
      r.session_end = t + (app.session_s > 0 ? app.session_s : s_.duration_s) * (first ? w_.FirstSessionShare(u) : 1.0);
      r.ready_at = t;
      r.next_check = t + s_.migration.check_interval_s;
      r.last_look = t;
      r.checked_at = p;
      if (!filters_.empty()) filters_[u].Observe(t, p, s_.predict);
      if (target >= 0) {
        Hold(target, app, +1);
        r.ready_at = t + Provision(static_cast<size_t>(target), w_.AppIndexOf(u), t);
        r.blocked_s = r.ready_at - t;
      }
      return;
    }
    if (r.pending != kNone) {
      if (t < r.pending_ready) return;
      // cost-predict moved early: switch once the target serves the user better where it is now,
      // or once the predicted time has come.
      if (name_ == "cost-predict" && t < r.pending_since + s_.predict.horizon_s) {
        const auto there = Rank(u, p, r.pending, r.pending);
        const auto here = r.cloudlet >= 0 ? Rank(u, p, r.cloudlet, r.cloudlet) : std::nullopt;
        if (there && here && there->rtt_ms + there->queue_ms > here->rtt_ms + here->queue_ms) return;
      }
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
    if (!filters_.empty()) filters_[u].Observe(t, p, s_.predict);  // a position fix at every look
    // A user that has not moved far is looked at again only now and then: load changes too.
    const double moved = std::hypot(p.x_m - r.checked_at.x_m, p.y_m - r.checked_at.y_m);
    if (moved < s_.migration.check_distance_m && r.cloudlet != kCloud && t < r.last_look + s_.migration.recheck_s) return;
    r.last_look = t;
    r.next_check = t + s_.migration.check_interval_s;
    r.checked_at = p;
    const auto started = Clock::now();
    const int target = Reconsider(u, p, t);
    decision_ns_ += static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
    ++decisions_;
    if (target == kNone) return;
    // The target is provisioned while the user is still served where it is; then a short downtime.
    Hold(target, app, +1);
    r.pending = target;
    r.pending_since = t;
    r.pending_ready = t + Provision(static_cast<size_t>(target), w_.AppIndexOf(u), t);
  }

  void Measure(double t, const std::vector<Position>& at, const std::vector<double>& jitter) {
    double weight = 0, sum = 0, sum_total = 0, sla_w = 0, viol = 0;
    on_cloud_ = 0;
    for (size_t u = 0; u < users_.size(); ++u) {
      const UserRun& r = users_[u];
      const SimApp& app = w_.AppOf(u);
      const double w = app.req_rate_hz * s_.step_s;
      double response;
      if (r.cloudlet >= 0) {
        const size_t j = static_cast<size_t>(r.cloudlet);
        response = w_.NetworkMs(at[u], j) + jitter[u] + app.service_ms * queue_per_service_ms_[j];
      } else {
        response = s_.network.cloud_rtt_ms + jitter[u] + app.service_ms;
        ++on_cloud_;
        cloud_weight_ += w;
      }
      // What the user waits in all, per request: the session's provisioning and downtime spread over
      // its requests (the amortisation of ARCHITECTURE.md section 5). A request made while the app is
      // not running (provisioning or downtime) misses any SLA.
      const double session_requests = std::max(1.0, app.req_rate_hz * (app.session_s > 0 ? app.session_s : s_.duration_s));
      const double total = response + 1000 * r.blocked_s / session_requests;
      const bool blocked = t < r.ready_at || t < r.down_until;
      response_.Add(response, w);
      total_.Add(total, w);
      weight += w;
      sum += w * response;
      sum_total += w * total;
      if (app.max_rtt_ms > 0) {
        sla_w += w;
        if (blocked || response > app.max_rtt_ms) viol += w;
      }
    }
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

  Remote* remote_;
  double heartbeat_s_;
  double next_heartbeat_ = 0;
  Status error_;
  std::string name_;
  const Scenario& s_;
  const World& w_;
  const Engine& engine_;
  const MigrationAdvisor& advisor_;
  std::vector<UserRun> users_;
  std::vector<CloudletRun> cloudlets_;
  std::vector<PositionFilter> filters_;
  std::vector<PlacementRequest> requests_;
  std::vector<double> queue_per_service_ms_;  // one per app: only the client's position changes
  std::mt19937_64 rng_;
  FleetSnapshot snapshot_;
  Reservations reserved_;
  double now_ = 0;
  Histogram response_, total_;
  double all_weight_ = 0, cloud_weight_ = 0, sla_weight_ = 0, violations_ = 0;
  uint64_t migrations_ = 0, cache_hits_ = 0, decisions_ = 0;
  double downtime_s_ = 0, decision_ns_ = 0;
  std::vector<double> provision_s_;
  double jain_sum_ = 0;
  uint64_t jain_steps_ = 0;
  double step_mean_ms_ = 0, step_total_ms_ = 0, step_sla_pct_ = 0;
  int on_cloud_ = 0;
};

}  // namespace

Result<SimResult> Simulate(const Scenario& s, const SimOptions& options) {
  const auto wall_start = Clock::now();
  std::vector<std::string> names = options.policies.empty() ? AllPolicies() : options.policies;
  if (options.remote) {
    if (names != std::vector<std::string>{"live"}) return Status::InvalidField("--policies", "a live run has one policy: the registry's");
    names = {"live"};
  }
  for (const auto& n : names) {
    if (n == "live" && options.remote) continue;
    if (std::find(AllPolicies().begin(), AllPolicies().end(), n) == AllPolicies().end()) {
      return Status::InvalidField("--policies", "unknown policy '" + n.substr(0, 40) + "' (known: cost, cost-predict, "
                                                "nearest, sinfonia, k8s, random, optimal)");
    }
  }
  auto world = World::Create(s);
  if (!world.ok()) return world.status();
  World& w = **world;
  const Engine engine(w.EngineParamsFor());
  CLOUDLET_RETURN_IF_ERROR(engine.params().Validate());
  const MigrationAdvisor advisor({s.migration.downtime_s, s.migration.margin, s.migration.min_gain_ms});

  SimResult out;
  out.policies = names;
  std::vector<std::unique_ptr<PolicyRun>> runs;
  int optimal_index = -1;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "optimal") {
      optimal_index = static_cast<int>(i);
      runs.emplace_back();
    } else {
      runs.push_back(std::make_unique<PolicyRun>(names[i], s, w, engine, advisor, options.remote, options.heartbeat_s));
    }
  }
  OptimalRun optimal(s, w);
  StepPool pool(std::clamp(options.threads ? options.threads : std::thread::hardware_concurrency(), 1u, 64u));
  const size_t steps = s.steps();
  const size_t load_every = std::max<size_t>(1, steps / kLoadSamples);
  const size_t series_every = std::max<size_t>(1, steps / 2000);
  const size_t optimal_every = std::max<size_t>(1, static_cast<size_t>(std::llround(s.optimal.every_s / s.step_s)));
  const size_t tracked = std::min<size_t>(kTrackedUsers, static_cast<size_t>(s.users));
  out.tracks.resize(tracked);
  out.load.resize(names.size());
  std::vector<Position> at(static_cast<size_t>(s.users));
  std::vector<double> jitter(static_cast<size_t>(s.users));
  std::mt19937_64 jitter_rng(s.seed ^ 0x6A6974746572ULL);
  std::exponential_distribution<double> jitter_dist(s.network.jitter_ms > 0 ? 1 / s.network.jitter_ms : 1);
  // The optimum is solved on its own thread from a copy of the step's positions while the policies
  // go on; its figures are joined to the others by time at the end (the latest solve at or before).
  std::vector<Position> solve_at;
  std::vector<double> solve_jitter;
  std::future<Status> solving;
  auto finish_solve = [&]() -> Status { return solving.valid() ? solving.get() : Status::Ok(); };
  std::vector<double> series_times;
  if (options.remote) CLOUDLET_RETURN_IF_ERROR(options.remote->Setup(s));

  for (size_t step = 0; step < steps; ++step) {
    const double t = static_cast<double>(step) * s.step_s;
    if (options.cancel && options.cancel->load()) {
      (void)finish_solve();
      if (options.remote) (void)options.remote->Finish();  // leave nothing behind in the registry
      return Status::Unavailable("interrupted at t = " + std::to_string(static_cast<long long>(t)) + " s of " +
                                 std::to_string(static_cast<long long>(s.duration_s)) + " s; no outputs written");
    }
    w.Positions(step == 0 ? 0 : s.step_s, at);
    for (auto& j : jitter) j = s.network.jitter_ms > 0 ? jitter_dist(jitter_rng) : 0;
    // Policies are independent given the users' positions and jitter: they step in parallel.
    pool.Run(runs.size(), [&](size_t i) {
      if (runs[i]) runs[i]->Step(t, at, jitter);
    });
    for (const auto& run : runs) {
      if (run && !run->error().ok()) {
        if (options.remote) (void)options.remote->Finish();  // leave nothing behind in the registry
        return run->error();
      }
    }
    if (optimal_index >= 0 && step % optimal_every == 0) {
      CLOUDLET_RETURN_IF_ERROR(finish_solve());
      solve_at = at;
      solve_jitter = jitter;
      const double weight_s = s.step_s * static_cast<double>(optimal_every);
      solving = std::async(std::launch::async, [&optimal, &solve_at, &solve_jitter, t, weight_s] {
        return optimal.Solve(t, solve_at, solve_jitter, weight_s);
      });
      OptimalCheck check{t, std::numeric_limits<double>::quiet_NaN(), {}};
      for (size_t i = 0; i < runs.size(); ++i) {
        check.policy_mean_ms.push_back(runs[i] ? runs[i]->step_mean_ms() : std::numeric_limits<double>::quiet_NaN());
      }
      out.optimal_checks.push_back(std::move(check));
    }
    if (step % series_every == 0) {
      series_times.push_back(t);
      for (size_t i = 0; i < runs.size(); ++i) {
        if (runs[i]) out.series.push_back(runs[i]->Row(t, static_cast<int>(i)));
      }
    }
    if (step % load_every == 0) {
      out.load_times.push_back(t);
      for (size_t i = 0; i < runs.size(); ++i) {
        std::vector<float> loads(s.cloudlets.size());
        for (size_t j = 0; runs[i] && j < loads.size(); ++j) loads[j] = static_cast<float>(runs[i]->utilisation(j));
        out.load[i].push_back(std::move(loads));
      }
      for (size_t u = 0; u < tracked; ++u) out.tracks[u].push_back(at[u]);
    }
    if (options.progress && (step % 16 == 0 || step + 1 == steps)) options.progress(static_cast<double>(step + 1) / static_cast<double>(steps));
  }
  CLOUDLET_RETURN_IF_ERROR(finish_solve());
  if (options.remote) CLOUDLET_RETURN_IF_ERROR(options.remote->Finish());
  if (optimal_index >= 0) {
    const auto& history = optimal.history();
    auto latest = [&](double t) {  // the last solve at or before t
      auto it = std::upper_bound(history.begin(), history.end(), t, [](double v, const OptimalRun::Solved& h) { return v < h.t_s; });
      return it == history.begin() ? history.end() : std::prev(it);
    };
    for (size_t k = 0; k < out.optimal_checks.size(); ++k) out.optimal_checks[k].optimal_mean_ms = history[k].lower_bound_ms;
    for (double t : series_times) {
      if (auto h = latest(t); h != history.end()) {
        out.series.push_back({t, optimal_index, h->mean_ms, h->mean_ms, h->sla_violation_pct, h->on_cloud, h->migrations});
      }
    }
    std::stable_sort(out.series.begin(), out.series.end(), [](const SeriesRow& a, const SeriesRow& b) {
      return a.t_s != b.t_s ? a.t_s < b.t_s : a.policy < b.policy;
    });
    auto& loads = out.load[static_cast<size_t>(optimal_index)];
    for (size_t k = 0; k < out.load_times.size(); ++k) {
      if (auto h = latest(out.load_times[k]); h != history.end()) loads[k] = h->utilisation;
    }
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    out.summary.push_back(runs[i] ? runs[i]->Summary() : optimal.Summary());
    out.cdf.push_back((runs[i] ? runs[i]->response() : optimal.response()).Cdf());
  }
  out.wall_s = std::chrono::duration<double>(Clock::now() - wall_start).count();
  return out;
}

}  // namespace cloudlet::sim
