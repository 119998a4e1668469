// How fast mDNS discovery is, with real Avahi daemons in network namespaces (the test lab):
//   1. from starting cloudlet-agent in one namespace to its row in `cloudlet discover --watch` in
//      another (process start, Avahi's probing and announcing, browsing, resolving);
//   2. from a load change on the agent's host to the new TXT record in that browser (sampling,
//      the TXT update, its announcement).
// Median, minimum and maximum of N runs (default 10). Needs root. Usage: discovery_bench [N]
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/common/time_format.h"
#include "support/child_process.h"
#include "support/netns_lab.h"
#include "support/temp_dir.h"

using namespace cloudlet;
using namespace cloudlet::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The watcher's lines, each {"time": ..., "cloudlets": [...]}; `seen` lines already read.
std::vector<json> NewLines(ChildProcess& watch, size_t& seen) {
  std::vector<json> out;
  const std::string text = watch.Stdout();
  size_t pos = 0, line = 0;
  while (true) {
    const size_t end = text.find('\n', pos);
    if (end == std::string::npos) break;
    if (line++ >= seen) {
      json j = json::parse(text.substr(pos, end - pos), nullptr, false);
      if (j.is_object()) out.push_back(std::move(j));
    }
    pos = end + 1;
  }
  seen = line;
  return out;
}

const json* Find(const json& line, const std::string& id) {
  for (const auto& c : line["cloudlets"]) {
    if (c.value("id", "") == id) return &c;
  }
  return nullptr;
}

double Millis(common::TimePoint from, const std::string& rfc3339) {
  auto t = common::ParseRfc3339(rfc3339, "time");
  return t.ok() ? std::chrono::duration<double, std::milli>(*t - from).count() : -1;
}

// Milliseconds from `start` to the first new watcher line where `row` of cloudlet `id` satisfies
// `wanted` (by the line's own timestamp); -1 when none came within 30 s.
template <typename F>
double MillisUntil(ChildProcess& watch, size_t& seen, const std::string& id, common::TimePoint start, F wanted) {
  double ms = -1;
  WaitFor([&] {
    for (const auto& line : NewLines(watch, seen)) {
      const json* c = Find(line, id);
      if (ms < 0 && c && wanted(*c)) ms = Millis(start, line["time"]);
    }
    return ms >= 0;
  }, 30s);
  return ms;
}

void WriteStat(const std::string& dir, uint64_t busy, uint64_t idle) {
  std::ofstream(dir + "/stat.tmp") << "cpu  " << busy << " 0 0 " << idle << " 0 0 0 0 0 0\ncpu0 0\ncpu1 0\n";
  std::filesystem::rename(dir + "/stat.tmp", dir + "/stat");
}

void Report(const char* what, std::vector<double> ms, double target_ms) {
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  std::printf("%-46s median %6.0f ms   min %6.0f   max %6.0f   (n=%zu, target <= %.0f ms: %s)\n", what, median,
              ms.front(), ms.back(), ms.size(), target_ms, median <= target_ms ? "met" : "NOT met");
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  if (auto why = NetnsLab::Unavailable(); !why.empty()) {
    std::cerr << "discovery_bench: skipped: " << why << "\n";
    return 0;
  }
  NetnsLab lab(2);
  if (!lab.ok()) {
    std::cerr << "discovery_bench: " << lab.error() << "\n";
    return 1;
  }
  TempDir dir;
  ChildProcess watch(lab.Exec(0, {CLOUDLET_CLI_BIN, "--json", "discover", "--watch"}), dir.File("watch.out"),
                     dir.File("watch.err"));
  watch.Start();
  size_t seen = 0;
  std::this_thread::sleep_for(1s);  // the browser is up

  std::vector<double> first;
  for (int i = 0; i < runs; ++i) {
    const std::string id = "cl-bench-" + std::to_string(i);
    const std::string state = dir.File("state" + std::to_string(i));
    ChildProcess agent(lab.Exec(1, {CLOUDLET_AGENT_BIN, "--name", "bench-" + std::to_string(i), "--id", id,
                                    "--state-dir", state}),
                       dir.File("agent.log"), dir.File("agent.log"));
    const auto start = std::chrono::system_clock::now();
    agent.Start();
    const double ms = MillisUntil(watch, seen, id, start, [](const json&) { return true; });
    if (ms < 0) {
      std::cerr << "discovery_bench: run " << i << ": not discovered\n" << ReadFileOrEmpty(dir.File("agent.log"));
      return 1;
    }
    first.push_back(ms);
    agent.Signal(SIGTERM);
    agent.Wait();
    WaitFor([&] {
      auto lines = NewLines(watch, seen);
      return !lines.empty() && !Find(lines.back(), id);
    }, 30s);
  }

  // TXT updates: the agent reads a procfs stand-in whose counters this program moves.
  const std::string proc = dir.File("proc");
  std::filesystem::create_directories(proc);
  std::ofstream(proc + "/meminfo") << "MemTotal: 8192000 kB\nMemAvailable: 4096000 kB\n";
  uint64_t busy = 100, idle = 900;
  WriteStat(proc, busy, idle);
  ChildProcess agent(lab.Exec(1, {CLOUDLET_AGENT_BIN, "--name", "bench-update", "--id", "cl-bench-update",
                                  "--state-dir", dir.File("state-update"), "--proc-dir", proc,
                                  "--sample-interval", "50ms"}),
                     dir.File("agent.log"), dir.File("agent.log"));
  int load = 10;
  const auto started = std::chrono::system_clock::now();
  agent.Start();
  MillisUntil(watch, seen, "cl-bench-update", started, [&](const json& c) { return c["load_percent"] == load; });
  std::vector<double> update;
  for (int i = 0; i < runs; ++i) {
    std::this_thread::sleep_for(1500ms);  // past the agent's one update a second
    load = load == 10 ? 90 : 10;
    busy += static_cast<uint64_t>(load) * 10;
    idle += static_cast<uint64_t>(100 - load) * 10;
    const auto start = std::chrono::system_clock::now();
    WriteStat(proc, busy, idle);
    const double ms =
        MillisUntil(watch, seen, "cl-bench-update", start, [&](const json& c) { return c["load_percent"] == load; });
    if (ms < 0) {
      std::cerr << "discovery_bench: update " << i << " did not arrive\n" << ReadFileOrEmpty(dir.File("agent.log"));
      return 1;
    }
    update.push_back(ms);
  }
  agent.Signal(SIGTERM);
  agent.Wait();
  watch.Signal(SIGINT);
  watch.Wait();

  std::printf("mDNS discovery between two network namespaces (real avahi-daemon in each), %d runs\n", runs);
  Report("agent start -> listed by `cloudlet discover`", first, 1500);
  Report("load change -> new TXT record in the browser", update, 1200);
  return 0;
}
