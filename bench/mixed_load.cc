// Mixed load on a running cloudletd, and a check of what it acknowledged; the tool behind
// bench/run-crash-consistency and bench/run-soak.
//
//   mixed_load setup  --registry URL --token T [--cloudlets 20]
//   mixed_load run    --registry URL --token T --seconds 60 [--rate 0] [--workers 8] [--acks FILE]
//                     [--report-every 60] [--tag round1]
//   mixed_load verify --registry URL --token T --acks FILE
//
// setup registers cloudlets cl-load-0.. (8 cores, 16 GiB each) and tenant "load". run drives
// heartbeats, placements (reserve, confirm, release), nearest-10 lists, blocking queries (on the
// fleet's index as the worker last saw it, up to 1 s) and usage batches from `workers` threads, half of them on kept-alive connections and half sending
// "Connection: close"; --rate caps the total requests per second (0: as fast as answers come). Every
// write it sends, and every one cloudletd acknowledged, goes to the --acks file as it happens (one
// line each, flushed), so that a run cut short by kill -9 of cloudletd leaves an exact record. Every
// --report-every seconds (and at the end) it prints one JSON line: requests, p50 and p99 latency in
// ms, answers that were not 2xx, of which 5xx, and requests that got no answer.
//
// verify reads the acks file and checks cloudletd: each acknowledged usage record counted once
// (acknowledged <= counted <= sent), each acknowledged confirmation still confirmed unless its
// release was acknowledged, each acknowledged release released, each registered cloudlet present,
// and no cloudlet with more CPU or memory reserved than it has. It prints one JSON line and exits 1
// when any check fails.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string mode, registry, token, acks, tag = "run";
  double seconds = 60, rate = 0, report_every = 60;
  int workers = 8, cloudlets = 20;
};

constexpr int kCloudletCpu = 8000, kCloudletMem = 16384, kAppCpu = 500, kAppMem = 256;

// What runs on each cloudlet as its agent would know it: the load's heartbeats report free =
// capacity - what this knows, so that the registry is told the truth (a heartbeat that always
// said "half free" would let it place past capacity, and the capacity check would mean nothing).
// A confirmation counts from before it is sent until it is known to have failed, and a release
// from when it is known to have succeeded, so that a report errs only on the side of less free; a
// cloudlet's heartbeat and its confirmations never interleave.
class Fleet {
 public:
  explicit Fleet(int n) : mu_(static_cast<size_t>(n)), used_(static_cast<size_t>(n), 0) {}
  std::mutex& Lock(int i) { return mu_[static_cast<size_t>(i)]; }
  int& Used(int i) { return used_[static_cast<size_t>(i)]; }  // placements; under Lock(i)

 private:
  std::vector<std::mutex> mu_;
  std::vector<int> used_;
};

int CloudletIndex(const std::string& id) {
  const size_t dash = id.rfind('-');
  return dash == std::string::npos ? -1 : std::atoi(id.c_str() + dash + 1);
}

std::string CloudletBody(int i) {
  const double lat = 40.0 + (i % 10) * 0.05, lon = -80.0 + (i / 10) * 0.05;
  return json{{"name", "load " + std::to_string(i)}, {"endpoint", "http://127.0.0.1:1"},
              {"geo", {{"lat", lat}, {"lon", lon}}}, {"capacity", {{"cpu_millis", kCloudletCpu}, {"mem_mb", kCloudletMem}}},
              {"isolation", {"container"}}, {"wan_mbps", 1000}}
      .dump();
}

class Caller {
 public:
  Caller(const Options& o, bool keep_alive) : o_(o), keep_alive_(keep_alive), http_(cloudlet::api::MakeHttpClient()) {}
  // The status, or 0 when no answer came.
  long Call(const std::string& method, const std::string& path, const std::string& body, std::string* answer,
            std::chrono::milliseconds timeout = 10s, std::string* index = nullptr) {
    std::map<std::string, std::string> headers = {{"Authorization", "Bearer " + o_.token}};
    if (!body.empty()) headers["Content-Type"] = "application/json";
    if (!keep_alive_) headers["Connection"] = "close";
    auto r = http_->Send({.method = method, .url = o_.registry + path, .body = body, .headers = headers, .timeout = timeout});
    if (!r.ok()) return 0;
    if (index) *index = r->Header("x-cloudlet-index");
    if (answer) *answer = std::move(r->body);
    return r->status;
  }

 private:
  const Options& o_;
  bool keep_alive_;
  std::unique_ptr<cloudlet::api::HttpClient> http_;
};

// The acks file: one line per write sent and per write acknowledged, flushed at once.
class AckLog {
 public:
  explicit AckLog(const std::string& path) : out_(path.empty() ? nullptr : std::fopen(path.c_str(), "a")) {}
  ~AckLog() {
    if (out_) std::fclose(out_);
  }
  void Write(const std::string& line) {
    if (!out_) return;
    std::lock_guard lock(mu_);
    std::fputs((line + "\n").c_str(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  std::mutex mu_;
};

struct Window {
  std::vector<double> ms;
  uint64_t non2xx = 0, server_errors = 0, unanswered = 0;
};

class Stats {
 public:
  void Add(long status, double ms) {
    std::lock_guard lock(mu_);
    w_.ms.push_back(ms);
    if (status == 0) ++w_.unanswered;
    else if (status < 200 || status >= 300) ++w_.non2xx;
    if (status >= 500) ++w_.server_errors;
  }
  // The window since the last call, as one JSON line.
  json Take(double at_s) {
    Window w;
    {
      std::lock_guard lock(mu_);
      std::swap(w, w_);
    }
    std::sort(w.ms.begin(), w.ms.end());
    auto pct = [&](double p) { return w.ms.empty() ? 0.0 : w.ms[std::min(w.ms.size() - 1, size_t(p * w.ms.size()))]; };
    return {{"at_s", std::round(at_s)}, {"requests", w.ms.size()}, {"p50_ms", std::round(pct(0.5) * 100) / 100},
            {"p99_ms", std::round(pct(0.99) * 100) / 100}, {"non_2xx", w.non2xx}, {"5xx", w.server_errors},
            {"unanswered", w.unanswered}};
  }

 private:
  std::mutex mu_;
  Window w_;
};

int Setup(const Options& o) {
  Caller c(o, true);
  for (int i = 0; i < o.cloudlets; ++i) {
    const long s = c.Call("PUT", "/v1/cloudlets/cl-load-" + std::to_string(i), CloudletBody(i), nullptr);
    if (s != 200 && s != 201) return std::cerr << "setup: PUT cl-load-" << i << ": " << s << "\n", 1;
  }
  const long t = c.Call("POST", "/v1/tenants", R"({"id":"load"})", nullptr);
  if (t != 201 && t != 409) return std::cerr << "setup: POST /v1/tenants: " << t << "\n", 1;
  return 0;
}

struct Mine {
  std::string placement;
  int cloudlet;
};

// What earlier runs left (their acks): each cloudlet's count of placements that may be running
// there (confirmations sent, not known to be released), and the confirmed ones, to release later.
std::vector<Mine> Resume(const std::string& acks, Fleet& fleet) {
  std::ifstream in(acks);
  std::map<std::string, int> on;
  std::set<std::string> confirmed, released;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind, id;
    int cl = -1;
    words >> kind >> id;
    if (kind == "confirming" && words >> cl) on[id] = cl;
    else if (kind == "confirm") confirmed.insert(id);
    else if (kind == "release") released.insert(id);
  }
  std::vector<Mine> left;
  for (const auto& [id, cl] : on) {
    if (released.count(id)) continue;
    ++fleet.Used(cl);
    if (confirmed.count(id)) left.push_back({id, cl});
  }
  return left;
}

void Worker(const Options& o, int index, AckLog& acks, Stats& stats, Fleet& fleet, std::vector<Mine> mine,
            Clock::time_point until, std::atomic<uint64_t>& seq) {
  Caller c(o, index % 2 == 0);
  std::mt19937_64 rng(std::hash<std::string>{}(o.tag) + index);
  std::uniform_real_distribution<double> unit(0, 1);
  const double per_worker_rate = o.rate > 0 ? o.rate / o.workers : 0;
  auto next = Clock::now();
  std::string fleet_index = "1";  // as last seen: a blocking query waits for a change after it
  auto timed = [&](const std::string& method, const std::string& path, const std::string& body, std::string* answer,
                   std::chrono::milliseconds timeout = 10s) {
    const auto t0 = Clock::now();
    std::string seen;
    const long s = c.Call(method, path, body, answer, timeout, &seen);
    if (!seen.empty() && path.rfind("/v1/cloudlets?", 0) == 0) fleet_index = seen;
    stats.Add(s, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (s == 0) std::this_thread::sleep_for(50ms);  // the server is away (killed): do not spin
    if (per_worker_rate > 0) {
      next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / per_worker_rate));
      std::this_thread::sleep_until(next);
    }
    return s;
  };
  // `mine`: confirmed placements not yet released.
  while (Clock::now() < until) {
    const double pick = unit(rng);
    const int cl = static_cast<int>(unit(rng) * o.cloudlets);
    const std::string id = "cl-load-" + std::to_string(cl);
    std::string answer;
    if (pick < 0.30) {
      std::lock_guard lock(fleet.Lock(cl));
      const int used = fleet.Used(cl);
      timed("POST", "/v1/cloudlets/" + id + "/heartbeat",
            json{{"load", unit(rng)},
                 {"free", {{"cpu_millis", std::max(0, kCloudletCpu - used * kAppCpu)},
                           {"mem_mb", std::max(0, kCloudletMem - used * kAppMem)}}}}.dump(),
            nullptr);
    } else if (pick < 0.55) {
      timed("GET", "/v1/cloudlets?near=" + std::to_string(40 + unit(rng)) + "," + std::to_string(-80 + unit(rng)) +
                       "&limit=10",
            "", nullptr);
    } else if (pick < 0.60) {
      timed("GET", "/v1/cloudlets?limit=1&index=" + fleet_index + "&wait=1s", "", nullptr);
    } else if (pick < 0.75) {
      json records = json::array();
      std::vector<std::string> ids;
      for (int r = 0; r < 10; ++r) {
        ids.push_back(o.tag + "-" + std::to_string(index) + "-" + std::to_string(seq.fetch_add(1)));
        records.push_back({{"event_id", ids.back()}, {"tenant", "load"}, {"cloudlet", id},
                           {"start", "2026-11-30T10:00:00Z"}, {"end", "2026-11-30T10:01:00Z"},
                           {"quantities", {{"cpu_core_s", 1}}}});
      }
      for (const auto& e : ids) acks.Write("sent " + e);
      if (timed("POST", "/v1/usage", json{{"records", records}}.dump(), &answer) == 200) {
        const json a = json::parse(answer, nullptr, false);
        // Accepted now or a duplicate of an earlier delivery: either way the ledger holds it.
        if (a.is_object() && a.value("accepted", 0) + a.value("duplicate", 0) == static_cast<int>(ids.size())) {
          for (const auto& e : ids) acks.Write("usage " + e);
        }
      }
    } else if (!mine.empty() && pick < 0.85) {
      const Mine m = mine.back();
      acks.Write("releasing " + m.placement);
      const long s = timed("DELETE", "/v1/placements/" + m.placement, "", nullptr);
      if (s == 200 || s == 204 || s == 404) {  // 404: an earlier try released it, unanswered
        if (s != 404) acks.Write("release " + m.placement);
        std::lock_guard lock(fleet.Lock(m.cloudlet));
        --fleet.Used(m.cloudlet);
        mine.pop_back();
      }
    } else {
      const json request = {
          {"app", {{"name", "load"}, {"base_vm", "sha256:" + std::string(64, 'a')}, {"base_vm_mb", 10}, {"overlay_mb", 1},
                   {"cpu_millis", kAppCpu}, {"mem_mb", kAppMem}, {"isolation", "container"}}},
          {"client", {{"geo", {{"lat", 40 + unit(rng) * 0.5}, {"lon", -80 + unit(rng) * 0.5}}}}}};
      if (timed("POST", "/v1/placements", request.dump(), &answer) != 201) continue;
      const json placed = json::parse(answer, nullptr, false);
      const std::string p = placed.is_object() && placed["placement_id"].is_string() ? placed.value("placement_id", "") : "";
      const int on = p.empty() ? -1 : CloudletIndex(placed["chosen"].value("cloudlet", ""));
      if (on < 0 || on >= o.cloudlets) continue;
      acks.Write("confirming " + p + " " + std::to_string(on));
      std::lock_guard lock(fleet.Lock(on));
      ++fleet.Used(on);  // counted before it is confirmed: a report never overstates what is free
      const long s = timed("POST", "/v1/placements/" + p + "/confirm", "", nullptr);
      if (s == 200) {
        acks.Write("confirm " + p);
        mine.push_back({p, on});
      } else if (s != 0) {
        --fleet.Used(on);  // refused: not running there
      }
    }
  }
}

int Run(const Options& o) {
  AckLog acks(o.acks);
  Stats stats;
  std::atomic<uint64_t> seq{0};
  Fleet fleet(o.cloudlets);
  const std::vector<Mine> left = o.acks.empty() ? std::vector<Mine>{} : Resume(o.acks, fleet);
  const auto start = Clock::now();
  const auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  std::vector<std::thread> workers;
  for (int i = 0; i < o.workers; ++i) {
    std::vector<Mine> mine;
    for (size_t k = static_cast<size_t>(i); k < left.size(); k += static_cast<size_t>(o.workers)) mine.push_back(left[k]);
    workers.emplace_back([&, i, mine] { Worker(o, i, acks, stats, fleet, mine, until, seq); });
  }
  auto next_report = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.report_every));
  while (Clock::now() < until) {
    std::this_thread::sleep_for(100ms);
    if (Clock::now() >= next_report && Clock::now() < until) {
      std::cout << stats.Take(std::chrono::duration<double>(Clock::now() - start).count()).dump() << std::endl;
      next_report += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.report_every));
    }
  }
  for (auto& w : workers) w.join();
  std::cout << stats.Take(std::chrono::duration<double>(Clock::now() - start).count()).dump() << std::endl;
  return 0;
}

int Verify(const Options& o) {
  std::ifstream in(o.acks);
  if (!in) return std::cerr << "verify: cannot read " << o.acks << "\n", 2;
  std::set<std::string> sent, acked, confirmed, released, releasing;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind, id;
    words >> kind >> id;
    if (kind == "sent") sent.insert(id);
    else if (kind == "usage") acked.insert(id);
    else if (kind == "confirm") confirmed.insert(id);
    else if (kind == "release") released.insert(id);
    else if (kind == "releasing") releasing.insert(id);
  }
  Caller c(o, true);
  json result = {{"usage_sent", sent.size()}, {"usage_acknowledged", acked.size()}};
  std::vector<std::string> failures;
  std::string answer;
  if (c.Call("GET", "/v1/reports/usage?from=2026-11-30&to=2026-12-01&tenant=load", "", &answer) != 200) {
    failures.push_back("usage report: " + answer.substr(0, 200));
  } else {
    const json report = json::parse(answer, nullptr, false);
    const double counted = report["total"]["quantities"].value("cpu_core_s", 0.0);
    result["usage_counted"] = counted;
    if (counted < static_cast<double>(acked.size())) failures.push_back("acknowledged usage is missing");
    if (counted > static_cast<double>(sent.size())) failures.push_back("usage counted more often than it was sent");
  }
  size_t checked = 0;
  for (const auto& p : confirmed) {
    const long s = c.Call("GET", "/v1/placements/" + p, "", &answer);
    const json j = json::parse(answer, nullptr, false);
    const std::string state = s == 200 ? j.value("state", "") : "missing";
    ++checked;
    if (released.count(p)) {
      if (s == 200 && state != "released") failures.push_back(p + ": release acknowledged, state " + state);
    } else if (!releasing.count(p) && (s != 200 || !j.value("confirmed", false) || state == "released" || state == "expired")) {
      failures.push_back(p + ": confirmation acknowledged, state " + state);
    }
  }
  result["placements_checked"] = checked;
  // Capacity: what live placements (reserved or active) hold on each cloudlet, against what it has.
  int64_t worst = 0;
  for (int i = 0; i < o.cloudlets; ++i) {
    const std::string cl = "cl-load-" + std::to_string(i);
    if (c.Call("GET", "/v1/cloudlets/" + cl + "/placements", "", &answer) != 200) {
      failures.push_back(cl + ": its placements: " + answer.substr(0, 200));
      continue;
    }
    int64_t cpu = 0, mem = 0;
    const json on = json::parse(answer, nullptr, false);
    for (const auto& p : on["placements"]) {
      cpu += p["app"].value("cpu_millis", 0);
      mem += p["app"].value("mem_mb", 0);
    }
    worst = std::max(worst, cpu);
    if (cpu > kCloudletCpu || mem > kCloudletMem) {
      failures.push_back(cl + " over-reserved: " + std::to_string(cpu) + " millicores, " + std::to_string(mem) + " MiB");
    }
  }
  result["most_cpu_reserved_on_one_cloudlet"] = worst;
  for (int i = 0; i < o.cloudlets; ++i) {
    if (c.Call("GET", "/v1/cloudlets/cl-load-" + std::to_string(i), "", nullptr) != 200) {
      failures.push_back("cl-load-" + std::to_string(i) + " is missing");
    }
  }
  result["failures"] = failures;
  std::cout << result.dump() << std::endl;
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2) return std::cerr << "usage: mixed_load setup|run|verify --registry URL --token T ...\n", 2;
  o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--registry") o.registry = v;
    else if (k == "--token") o.token = v;
    else if (k == "--acks") o.acks = v;
    else if (k == "--tag") o.tag = v;
    else if (k == "--seconds") o.seconds = std::stod(v);
    else if (k == "--rate") o.rate = std::stod(v);
    else if (k == "--report-every") o.report_every = std::stod(v);
    else if (k == "--workers") o.workers = std::stoi(v);
    else if (k == "--cloudlets") o.cloudlets = std::stoi(v);
    else return std::cerr << "mixed_load: unknown option " << k << "\n", 2;
  }
  if (o.registry.empty() || o.token.empty()) return std::cerr << "mixed_load: --registry and --token are required\n", 2;
  if (o.mode == "setup") return Setup(o);
  if (o.mode == "run") return Run(o);
  if (o.mode == "verify") return o.acks.empty() ? (std::cerr << "verify: --acks is required\n", 2) : Verify(o);
  std::cerr << "mixed_load: unknown mode " << o.mode << " (setup, run, verify)\n";
  return 2;
}
