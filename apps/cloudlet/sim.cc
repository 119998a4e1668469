#include "sim.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cloudlet/sim/report.h"
#include "cloudlet/sim/scenario.h"
#include "cloudlet/sim/simulator.h"
#include "sim_live.h"

namespace cloudlet::cli {

namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

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

}  // namespace

int RunSim(const SimCliOptions& o) {
  auto scenario = sim::LoadScenario(o.scenario);
  if (!scenario.ok()) {
    std::cerr << "cloudlet sim: " << scenario.status().message() << '\n';
    return kUsage;
  }
  if (o.seed) scenario->seed = *o.seed;
  sim::SimOptions options;
  std::stringstream list(o.policies);
  for (std::string p; std::getline(list, p, ',');) {
    if (!p.empty()) options.policies.push_back(p);
  }
  std::unique_ptr<sim::Remote> remote;
  if (!o.live_url.empty()) {
    if (o.token.empty()) {
      std::cerr << "cloudlet sim: --live needs --token (an operator token: it registers cloudlets and places for users)\n";
      return kUsage;
    }
    if (!options.policies.empty() && options.policies != std::vector<std::string>{"live"}) {
      std::cerr << "cloudlet sim: --policies: a live run has one policy, the registry's (omit --policies)\n";
      return kUsage;
    }
    options.policies = {"live"};
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
    std::cerr << "cloudlet sim: " << result.status().message() << '\n';
    return result.status().field() ? kUsage : kFailure;
  }
  const auto written = sim::WriteOutputs(o.out, *scenario, *result);
  if (!written.ok()) {
    std::cerr << "cloudlet sim: " << written.message() << '\n';
    return kFailure;
  }
  std::cout << sim::SummaryMarkdown(*scenario, *result, /*with_timing=*/true);
  std::fprintf(stderr, "cloudlet sim: %.1f s wall time; outputs in %s\n", result->wall_s, o.out.c_str());
  return kOk;
}

}  // namespace cloudlet::cli
