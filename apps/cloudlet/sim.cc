#include "sim.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "cloudlet/api/http_client.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/sim/report.h"
#include "cloudlet/sim/scenario.h"
#include "cloudlet/sim/simulator.h"
#include "client.h"
#include "sim_live.h"
#include "table.h"

namespace cloudlet::cli {

namespace {

std::atomic<bool> interrupted{false};
extern "C" void OnInterrupt(int) { interrupted.store(true); }

// A one-line progress bar on a terminal; nothing when stderr is a file or a pipe.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}
  void operator()(double done) {
    if (!enabled_) return;
    const int width = 40, filled = static_cast<int>(done * width);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = done > 0 ? elapsed * (1 - done) / done : 0;
    std::fprintf(stderr, "\r[%s%s] %3d%%  %.0f s elapsed, about %.0f s left ", std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), '.').c_str(), static_cast<int>(done * 100), elapsed, eta);
    if (done >= 1) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

// A registry started a moment ago (the README's two lines pasted as one block) may not listen yet:
// its /healthz is asked until it answers, within --live-wait.
common::Status WaitForRegistry(const SimCliOptions& o) {
  auto limit = common::ParseDuration(o.live_wait, "--live-wait");
  if (!limit.ok()) return common::Status::InvalidArgument(limit.status().message());
  auto http = api::MakeHttpClient({.ca_file = o.ca_file});
  const std::string url = o.live_url + (o.live_url.ends_with("/") ? "healthz" : "/healthz");
  const auto deadline = std::chrono::steady_clock::now() + *limit;
  bool said = false;
  std::string why;
  while (true) {
    auto r = http->Send({.method = "GET", .url = url, .timeout = std::chrono::seconds(2)});
    if (r.ok() && r->status == 200) return common::Status::Ok();
    why = r.ok() ? "HTTP " + std::to_string(r->status) : r.status().message();
    if (std::chrono::steady_clock::now() >= deadline || interrupted) break;
    if (!said && !o.quiet) std::cerr << "cloudlet sim: waiting for the registry at " << o.live_url << " ...\n";
    said = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return common::Status::Unavailable("the registry at " + o.live_url + " did not answer within " + o.live_wait +
                                     " (" + why + "); is cloudletd running?");
}

}  // namespace

common::Status RunSim(const SimCliOptions& o) {
  using common::Status;
  auto scenario = sim::LoadScenario(o.scenario);
  if (!scenario.ok()) return Status::InvalidArgument(scenario.status().message());
  if (o.seed) scenario->seed = *o.seed;
  sim::SimOptions options;
  std::stringstream list(o.policies);
  for (std::string p; std::getline(list, p, ',');) {
    if (!p.empty()) options.policies.push_back(p);
  }
  std::unique_ptr<sim::Remote> remote;
  if (!o.live_url.empty()) {
    if (o.token.empty()) {
      return Status::InvalidArgument("--live needs --token (an operator token: it registers cloudlets and places for users)");
    }
    if (!options.policies.empty() && options.policies != std::vector<std::string>{"live"}) {
      return Status::InvalidArgument("--policies: a live run has one policy, the registry's (omit --policies)");
    }
    options.policies = {"live"};
    CLOUDLET_RETURN_IF_ERROR(WaitForRegistry(o));
    remote = MakeLiveRemote({.url = o.live_url, .token = o.token, .ca_file = o.ca_file});
    options.remote = remote.get();
  }
  // Ctrl-C or SIGTERM stops at the next step; a live run cleans up the registry first.
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  options.cancel = &interrupted;
  ProgressBar bar(!o.quiet);
  options.progress = [&bar](double done) { bar(done); };
  std::cerr << "cloudlet sim: " << scenario->name << ": " << scenario->users << " users, " << scenario->cloudlets.size()
            << " cloudlets, " << scenario->steps() << " steps of " << scenario->step_s << " s\n";
  auto result = sim::Simulate(*scenario, options);
  if (!result.ok()) {
    return result.status().field() ? Status::InvalidArgument(result.status().message())
                                   : Status::Unavailable(result.status().message());
  }
  if (auto written = sim::WriteOutputs(o.out, *scenario, *result); !written.ok()) return written;
  // A compact table for the terminal; every column is in summary.md and summary.csv.
  std::vector<std::vector<std::string>> rows;
  for (const sim::PolicySummary& p : result->summary) {
    // optimal bounds the mean only (summary.md says why).
    auto shown = [&](double v, int digits) { return p.policy == "optimal" ? std::string("-") : Fixed(v, digits); };
    rows.push_back({p.policy, Fixed(p.mean_ms, 2), shown(p.p95_ms, 2), shown(p.total_p95_ms, 2),
                    shown(p.sla_violation_pct, 2), shown(p.cloud_pct, 2), shown(p.migrations_per_user_hour, 3),
                    shown(p.cache_hit_pct, 1), Fixed(p.decision_mean_us, 2)});
  }
  PrintTable(std::cout, {"POLICY", "MEAN ms", "p95 ms", "WAIT p95 ms", "OVER SLA %", "CLOUD %", "MIGR./USER-h",
                         "CACHE HIT %", "DECISION us"},
             rows);
  std::cout << "\nLatency is per request, network plus queueing; WAIT adds provisioning and migration downtime. "
               "Every column: " << o.out << "/summary.md\n";
  std::fprintf(stderr, "cloudlet sim: %.1f s wall time; outputs in %s\n", result->wall_s, o.out.c_str());
  return Status::Ok();
}

void AddSimCommand(CLI::App& app, Context& ctx) {
  struct Flags {
    SimCliOptions sim;
    uint64_t seed = 0;
    CLI::Option* seed_given = nullptr;
  };
  auto f = std::make_shared<Flags>();
  auto* sim = app.add_subcommand("sim", "Simulate users moving through an area and compare placement policies (docs/sim.md)");
  sim->add_option("--scenario", f->sim.scenario, "Scenario JSON file (bundled: sim/scenarios/)")->required();
  sim->add_option("--out", f->sim.out, "Directory for summary.{csv,json,md}, timeseries.csv, plots")->required();
  sim->add_option("--policies", f->sim.policies,
                  "Comma-separated subset of cost,cost-predict,nearest,sinfonia,k8s,random,optimal (default: all)");
  f->seed_given = sim->add_option("--seed", f->seed, "Override the scenario's seed");
  sim->add_option("--live", f->sim.live_url,
                  "Run against this cloudletd: the scenario's cloudlets register and heartbeat as virtual agents, its "
                  "users place, confirm, move and release over HTTP (needs an operator --token)");
  sim->add_option("--live-wait", f->sim.live_wait, "How long --live waits for the registry to answer")
      ->capture_default_str();
  sim->add_flag("--quiet", f->sim.quiet, "No progress bar");
  sim->callback([&ctx, f] {
    ctx.run = [&ctx, f]() -> common::Status {
      SimCliOptions o = f->sim;
      if (*f->seed_given) o.seed = f->seed;
      if (!o.live_url.empty()) {
        if (auto s = api::CheckServerUrl(o.live_url, ctx.options.insecure, "--live"); !s.ok()) {
          return common::Status::InvalidArgument(s.message());
        }
        auto token = TokenOf(ctx.options);
        if (!token.ok()) return token.status();
        o.token = *token;
      }
      o.ca_file = ctx.options.ca_file;
      return RunSim(o);
    };
  });
}

}  // namespace cloudlet::cli
