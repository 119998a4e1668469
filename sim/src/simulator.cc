#include "cloudlet/sim/simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <thread>

#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/migration.h"
#include "cloudlet/sim/rng.h"
#include "optimal.h"
#include "policies/policy.h"
#include "policy_run.h"
#include "step_pool.h"
#include "world.h"

namespace cloudlet::sim {

using common::Result;
using common::Status;

namespace {

constexpr size_t kTrackedUsers = 12;
constexpr size_t kLoadSamples = 240;  // points per cloudlet on the load plot

}  // namespace

namespace {

// The policies a run compares, checked: all of them by default; `live` alone in a live run.
Result<std::vector<std::string>> PolicyNames(const SimOptions& options) {
  std::vector<std::string> names = options.policies.empty() ? AllPolicies() : options.policies;
  if (options.remote) {
    if (names != std::vector<std::string>{"live"}) return Status::InvalidField("policies", "a live run has one policy: the registry's");
    return names;
  }
  for (const auto& n : names) {
    if (std::find(AllPolicies().begin(), AllPolicies().end(), n) == AllPolicies().end()) {
      std::string known;
      for (const auto& k : AllPolicies()) known += (known.empty() ? "" : ", ") + k;
      return Status::InvalidField("policies", "unknown policy '" + n.substr(0, 40) + "' (known: " + known + ")");
    }
  }
  return names;
}

// One simulation: the policies' runs stepped together over the same users, and the optimum solved
// on its own thread from a copy of each solved step's positions; its figures are joined to the
// others by time at the end (the latest solve at or before).
class Simulation {
 public:
  Simulation(const Scenario& s, const SimOptions& options, World& w, std::vector<std::string> names)
      : s_(s), options_(options), w_(w), engine_(w.EngineParamsFor()),
        advisor_({s.migration.downtime_s, s.migration.margin, s.migration.min_gain_ms}), optimal_(s, w),
        pool_(std::clamp(options.threads ? options.threads : std::thread::hardware_concurrency(), 1u, 64u)),
        steps_(s.steps()), load_every_(std::max<size_t>(1, steps_ / kLoadSamples)),
        series_every_(std::max<size_t>(1, steps_ / 2000)),
        optimal_every_(std::max<size_t>(1, static_cast<size_t>(std::llround(s.optimal.every_s / s.step_s)))),
        tracked_(std::min<size_t>(kTrackedUsers, static_cast<size_t>(s.users))), at_(static_cast<size_t>(s.users)),
        next_at_(at_.size()), jitter_(static_cast<size_t>(s.users)), next_jitter_(jitter_.size()), jitter_rng_(s.seed ^ 0x6A6974746572ULL),
        jitter_dist_(s.network.jitter_ms > 0 ? 1 / s.network.jitter_ms : 1) {
    out_.policies = std::move(names);
  }

  Result<SimResult> Run() {
    CLOUDLET_RETURN_IF_ERROR(engine_.params().Validate());
    // The runs rank with Engine::Best, which does not check a request again.
    for (size_t a = 0; a < s_.apps.size(); ++a) CLOUDLET_RETURN_IF_ERROR(placement::ValidateRequest(w_.RequestFor(a)));
    MakeRuns();
    out_.tracks.resize(tracked_);
    out_.load.resize(runs_.size());
    if (options_.remote) CLOUDLET_RETURN_IF_ERROR(options_.remote->Setup(s_));
    for (size_t step = 0; step < steps_; ++step) {
      const double t = static_cast<double>(step) * s_.step_s;
      if (options_.cancel && options_.cancel->load()) {
        (void)FinishSolve();
        if (options_.remote) (void)options_.remote->Finish();  // leave nothing behind in the registry
        return Status::Unavailable("interrupted at t = " + std::to_string(static_cast<long long>(t)) + " s of " +
                                   std::to_string(static_cast<long long>(s_.duration_s)) + " s; no outputs written");
      }
      if (Status st = Step(step, t); !st.ok()) {
        if (options_.remote) (void)options_.remote->Finish();  // leave nothing behind in the registry
        return st;
      }
      if (options_.progress && (step % 16 == 0 || step + 1 == steps_)) {
        options_.progress(static_cast<double>(step + 1) / static_cast<double>(steps_));
      }
    }
    CLOUDLET_RETURN_IF_ERROR(FinishSolve());
    if (options_.remote) CLOUDLET_RETURN_IF_ERROR(options_.remote->Finish());
    if (optimal_index_ >= 0) JoinOptimal();
    for (size_t i = 0; i < runs_.size(); ++i) {
      out_.summary.push_back(runs_[i] ? runs_[i]->Summary() : optimal_.Summary());
      out_.cdf.push_back((runs_[i] ? runs_[i]->response() : optimal_.response()).Cdf());
    }
    return std::move(out_);
  }

 private:
  void MakeRuns() {
    for (size_t i = 0; i < out_.policies.size(); ++i) {
      const std::string& name = out_.policies[i];
      if (name == "optimal") {
        optimal_index_ = static_cast<int>(i);
        runs_.emplace_back();
        continue;
      }
      auto policy = options_.remote ? MakeLivePolicy(*options_.remote) : MakePolicy(name, s_);
      runs_.push_back(std::make_unique<PolicyRun>(name, std::move(policy), s_, w_, engine_, advisor_, options_.remote,
                                                  options_.heartbeat_s));
    }
  }

  // Every policy decides (in parallel: they are independent given the users' positions and
  // jitter), then the step's figures are recorded. Meanwhile one more task moves everyone on to the
  // next step (into the spare buffers), so that no core waits for the world.
  // Tasks are handed out longest first, as long as they took in the last step, so that the two
  // threads finish together.
  Status Step(size_t step, double t) {
    if (step == 0) Advance(0, at_, jitter_);
    const size_t tasks = runs_.size() + 1;
    if (task_s_.size() != tasks) {
      task_s_.assign(tasks, 0);
      order_.resize(tasks);
      std::iota(order_.begin(), order_.end(), size_t{0});
    }
    std::stable_sort(order_.begin(), order_.end(), [&](size_t a, size_t b) { return task_s_[a] > task_s_[b]; });
    pool_.Run(tasks, [&](size_t k) {
      const size_t i = order_[k];
      const auto started = std::chrono::steady_clock::now();
      if (i == 0) {
        if (step + 1 < steps_) Advance(s_.step_s, next_at_, next_jitter_);
      } else if (runs_[i - 1]) {
        runs_[i - 1]->Step(t, at_, jitter_);
      }
      task_s_[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    });
    const Status recorded = Record(step, t);
    std::swap(at_, next_at_);
    std::swap(jitter_, next_jitter_);
    return recorded;
  }

  // Positions after dt_s, and each user's jitter, in the one order that makes runs repeatable.
  void Advance(double dt_s, std::vector<Position>& at, std::vector<double>& jitter) {
    w_.Positions(dt_s, at);
    for (auto& j : jitter) j = s_.network.jitter_ms > 0 ? jitter_dist_(jitter_rng_) : 0;
  }

  Status Record(size_t step, double t) {
    for (const auto& run : runs_) {
      if (run && !run->error().ok()) return run->error();
    }
    if (optimal_index_ >= 0 && step % optimal_every_ == 0) CLOUDLET_RETURN_IF_ERROR(StartSolve(t));
    if (step % series_every_ == 0) {
      series_times_.push_back(t);
      for (size_t i = 0; i < runs_.size(); ++i) {
        if (runs_[i]) out_.series.push_back(runs_[i]->Row(t, static_cast<int>(i)));
      }
    }
    if (step % load_every_ == 0) {
      out_.load_times.push_back(t);
      for (size_t i = 0; i < runs_.size(); ++i) {
        std::vector<float> loads(s_.cloudlets.size());
        for (size_t j = 0; runs_[i] && j < loads.size(); ++j) loads[j] = static_cast<float>(runs_[i]->utilisation(j));
        out_.load[i].push_back(std::move(loads));
      }
      for (size_t u = 0; u < tracked_; ++u) out_.tracks[u].push_back(at_[u]);
    }
    return Status::Ok();
  }

  Status FinishSolve() { return solving_.valid() ? solving_.get() : Status::Ok(); }

  Status StartSolve(double t) {
    CLOUDLET_RETURN_IF_ERROR(FinishSolve());
    solve_at_ = at_;
    solve_jitter_ = jitter_;
    const double weight_s = s_.step_s * static_cast<double>(optimal_every_);
    solving_ = std::async(std::launch::async,
                          [this, t, weight_s] { return optimal_.Solve(t, solve_at_, solve_jitter_, weight_s); });
    OptimalCheck check{t, std::numeric_limits<double>::quiet_NaN(), {}};
    for (const auto& run : runs_) {
      check.policy_mean_ms.push_back(run ? run->step_mean_ms() : std::numeric_limits<double>::quiet_NaN());
    }
    out_.optimal_checks.push_back(std::move(check));
    return Status::Ok();
  }

  void JoinOptimal() {
    const auto& history = optimal_.history();
    auto latest = [&](double t) {  // the last solve at or before t
      auto it = std::upper_bound(history.begin(), history.end(), t,
                                 [](double v, const OptimalRun::Solved& h) { return v < h.t_s; });
      return it == history.begin() ? history.end() : std::prev(it);
    };
    for (size_t k = 0; k < out_.optimal_checks.size(); ++k) out_.optimal_checks[k].optimal_mean_ms = history[k].lower_bound_ms;
    for (double t : series_times_) {
      if (auto h = latest(t); h != history.end()) {
        out_.series.push_back({t, optimal_index_, h->mean_ms, h->mean_ms, h->sla_violation_pct, h->on_cloud, h->migrations});
      }
    }
    std::stable_sort(out_.series.begin(), out_.series.end(), [](const SeriesRow& a, const SeriesRow& b) {
      return a.t_s != b.t_s ? a.t_s < b.t_s : a.policy < b.policy;
    });
    auto& loads = out_.load[static_cast<size_t>(optimal_index_)];
    for (size_t k = 0; k < out_.load_times.size(); ++k) {
      if (auto h = latest(out_.load_times[k]); h != history.end()) loads[k] = h->utilisation;
    }
  }

  const Scenario& s_;
  const SimOptions& options_;
  World& w_;
  const placement::Engine engine_;
  const placement::MigrationAdvisor advisor_;
  std::vector<std::unique_ptr<PolicyRun>> runs_;  // null at optimal's index
  OptimalRun optimal_;
  int optimal_index_ = -1;
  StepPool pool_;
  const size_t steps_, load_every_, series_every_, optimal_every_, tracked_;
  std::vector<double> task_s_;  // how long each task (0: moving the users; i: run i - 1) took in the last step
  std::vector<size_t> order_;   // the tasks, longest first
  std::vector<Position> at_, next_at_;        // this step's positions, and the next's being made
  std::vector<double> jitter_, next_jitter_;
  Rng jitter_rng_;
  std::exponential_distribution<double> jitter_dist_;
  std::vector<Position> solve_at_;
  std::vector<double> solve_jitter_;
  std::future<Status> solving_;
  std::vector<double> series_times_;
  SimResult out_;
};

}  // namespace

Result<SimResult> Simulate(const Scenario& s, const SimOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  auto names = PolicyNames(options);
  if (!names.ok()) return names.status();
  auto world = World::Create(s);
  if (!world.ok()) return world.status();
  Simulation simulation(s, options, **world, std::move(*names));
  auto out = simulation.Run();
  if (out.ok()) out->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return out;
}

}  // namespace cloudlet::sim
