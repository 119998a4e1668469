// Blocking-query fan-out: N watchers parked on cloudletd's `GET /v1/cloudlets?index=I&wait=...`,
// woken by one registration, and how long each took to hear of it (bench/run-shared-bench).
//
//   watch_fanout --url http://127.0.0.1:8470 --token T --watchers 10000 [--trigger-url URL]
//                [--query "near=40.44,-79.94&limit=3"]
//
// Opens N plain TCP connections (non-blocking, one epoll loop), sends one blocking query on each
// (by default each from its own position in the metro area, for its 3 nearest cloudlets, as phones
// would; --query "" watches the whole list),
// waits until cloudletd's /metrics counts them all parked, then registers a cloudlet through
// --trigger-url (default --url: with several cloudletd sharing a database, another instance) and
// times, per watcher, from just before the registration is sent to the first byte of its answer.
// Prints one JSON object: watchers, woken, statuses, p50/p99/max in ms.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Target {
  std::string host;
  int port = 0;
};

Target Parse(const std::string& url) {
  const std::string rest = url.substr(url.find("://") + 3);
  const size_t colon = rest.rfind(':');
  return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
}

cloudlet::api::ClientResponse Call(cloudlet::api::HttpClient& http, const std::string& method, const std::string& url,
                                   const std::string& token, const std::string& body = "") {
  auto r = http.Send({.method = method, .url = url, .body = body, .headers = {{"Authorization", "Bearer " + token}},
                      .timeout = std::chrono::milliseconds(30'000)});
  if (!r.ok()) {
    std::cerr << "watch_fanout: " << method << " " << url << ": " << r.status().ToString() << "\n";
    std::exit(1);
  }
  return *r;
}

// The number after `name` on its own line of a Prometheus text page, or -1.
long Metric(const std::string& page, const std::string& name) {
  const size_t at = page.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stol(page.substr(at + name.size() + 2));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, trigger_url, token;
  size_t watchers = 10'000;
  std::string query = "near";
  CLI::App app{"watch_fanout: N blocking queries on cloudletd woken by one registration, timed"};
  app.add_option("--url", url, "cloudletd the watchers wait on")->required();
  app.add_option("--trigger-url", trigger_url, "cloudletd the registration goes to (default: --url)");
  app.add_option("--token", token, "operator token")->required();
  app.add_option("--watchers", watchers, "blocking queries")->capture_default_str();
  app.add_option("--query", query,
                 "what each watcher lists: \"near\" (its 3 nearest from a random position), \"\" (the whole list), or a "
                 "query string")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (trigger_url.empty()) trigger_url = url;

  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < watchers + 64) {
    std::cerr << "watch_fanout: the open-files limit (" << files.rlim_cur << ") is below " << watchers << " watchers\n";
    return 1;
  }

  auto http = cloudlet::api::MakeHttpClient();
  const std::string index = Call(*http, "GET", url + "/v1/cloudlets", token).Header("x-cloudlet-index");
  const Target t = Parse(url);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(t.port));
  inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr);
  std::mt19937 random(7);
  std::uniform_real_distribution<double> lat(40.3, 40.6), lon(-80.1, -79.8);
  auto request = [&] {
    std::string q = query;
    if (query == "near") {
      char buf[64];
      std::snprintf(buf, sizeof buf, "near=%.4f,%.4f&limit=3", lat(random), lon(random));
      q = buf;
    }
    return "GET /v1/cloudlets?index=" + index + (q.empty() ? "" : "&" + q) + "&wait=120s HTTP/1.1\r\nHost: " + t.host +
           "\r\nAuthorization: Bearer " + token + "\r\nConnection: close\r\n\r\n";
  };

  // Connect and send in batches, so that the listener's backlog is never overrun.
  const int ep = epoll_create1(0);
  std::vector<int> fds;
  fds.reserve(watchers);
  for (size_t i = 0; i < watchers; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::cerr << "watch_fanout: connection " << i << " failed\n";
      return 1;
    }
    const std::string text = request();
    if (send(fd, text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) {
      std::cerr << "watch_fanout: sending on connection " << i << " failed\n";
      return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
  }
  // Every query parked (the registry counts them), before the change.
  const auto parked_by = Clock::now() + std::chrono::seconds(60);
  long parked = 0;
  while ((parked = Metric(Call(*http, "GET", url + "/metrics", token).body,
                          "cloudlet_registry_blocking_queries{kind=\"list\"}")) < static_cast<long>(watchers)) {
    if (Clock::now() > parked_by) {
      std::cerr << "watch_fanout: only " << parked << " of " << watchers << " queries parked\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  const json cloudlet = {{"name", "fan-out trigger"}, {"endpoint", "http://127.0.0.1:9"},
                         {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
                         {"capacity", {{"cpu_millis", 1000}, {"mem_mb", 1024}}},
                         {"isolation", {"container"}}, {"wan_mbps", 100}};
  const auto t0 = Clock::now();
  // A new cloudlet each run: a visible change on every instance (an identical re-registration is
  // news only where it is made).
  const std::string trigger = "cl-fanout-" + std::to_string(getpid()) + "-" +
                              std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000);
  Call(*http, "PUT", trigger_url + "/v1/cloudlets/" + trigger, token, cloudlet.dump());

  std::vector<double> ms;
  ms.reserve(watchers);
  std::vector<bool> heard(watchers, false);
  std::map<std::string, size_t> statuses;
  std::vector<epoll_event> events(1024);
  char buf[4096];
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (ms.size() < watchers && Clock::now() < deadline) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    const auto now = Clock::now();
    for (int e = 0; e < n; ++e) {
      const size_t i = events[e].data.u64;
      const ssize_t got = recv(fds[i], buf, sizeof buf, 0);
      if (!heard[i] && got > 0) {
        heard[i] = true;
        ms.push_back(std::chrono::duration<double, std::milli>(now - t0).count());
        ++statuses[std::string(buf, buf + std::min<ssize_t>(got, 12)).substr(9, 3)];
      }
      if (got <= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr);
        close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  json out = {{"watchers", watchers}, {"query", query}, {"woken", ms.size()}, {"statuses", statuses},
              {"p50_ms", Percentile(ms, 0.50)}, {"p99_ms", Percentile(ms, 0.99)},
              {"max_ms", ms.empty() ? 0.0 : *std::max_element(ms.begin(), ms.end())}};
  std::cout << out.dump() << "\n";
  return ms.size() == watchers ? 0 : 1;
}
