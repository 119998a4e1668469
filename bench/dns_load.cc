// DNS load on cloudletd's DNS server: registers N cloudlets over HTTP (spread over a box of the
// map), then keeps `--concurrency` queries in flight from one UDP socket for `--seconds`, each for
// _cloudlet._tcp.ZONE SRV with an EDNS Client Subnet drawn from the subnets file (or none, or a
// placement name), and reports answers per second and latency percentiles as one JSON line.
//
//   dns_load --registry http://127.0.0.1:8470 --token T --register 10000
//   dns_load --dns 127.0.0.1:8053 --zone cloudlet.test --subnets subnets.csv --seconds 10 --mode ecs
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;

void PushName(std::vector<uint8_t>& out, const std::string& name) {
  std::stringstream labels(name);
  for (std::string label; std::getline(labels, label, '.');) {
    if (label.empty()) continue;
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
}

// A query for `name` of `type`, with an ECS option for `subnet` (a /24, network byte order) unless 0.
std::vector<uint8_t> Query(uint16_t id, const std::string& name, uint16_t type, uint32_t subnet) {
  std::vector<uint8_t> q = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 1, 0, 0, 1, 0, 0, 0, 0, 0,
                            static_cast<uint8_t>(subnet ? 1 : 0)};
  PushName(q, name);
  q.insert(q.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 1});
  if (subnet) {
    const auto* a = reinterpret_cast<const uint8_t*>(&subnet);
    // OPT: root, type 41, UDP 1232, TTL 0, RDLEN 11: option 8, length 7, family 1, /24, scope 0, 3 bytes.
    q.insert(q.end(), {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 11, 0, 8, 0, 7, 0, 1, 24, 0, a[0], a[1], a[2]});
  }
  return q;
}

int Register(const std::string& registry, const std::string& token, int n, uint64_t seed) {
  auto http = cloudlet::api::MakeHttpClient();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> lat(25, 49), lon(-124, -67);
  for (int i = 0; i < n; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "cl-%05d", i);
    nlohmann::json d = {{"endpoint", "http://10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) +
                                         "." + std::to_string(i % 256) + ":8471"},
                        {"geo", {{"lat", lat(rng)}, {"lon", lon(rng)}}},
                        {"capacity", {{"cpu_millis", 64000}, {"mem_mb", 262144}}},
                        {"isolation", {"container"}}, {"wan_mbps", 1000}};
    auto r = http->Send({.method = "PUT", .url = registry + "/v1/cloudlets/" + id, .body = d.dump(),
                         .headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}}});
    if (!r.ok() || (r->status != 201 && r->status != 200)) {
      std::cerr << "dns_load: registering " << id << " failed: " << (r.ok() ? r->body : r.status().message()) << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"DNS load on cloudletd's DNS server (bench/run-dns-bench)"};
  std::string registry, token, dns, zone = "cloudlet.test", subnets_file, mode = "ecs";
  int register_n = 0, concurrency = 32;
  double seconds = 10;
  uint64_t seed = 1;
  app.add_option("--registry", registry, "cloudletd URL (with --register)");
  app.add_option("--token", token, "operator token (with --register)");
  app.add_option("--register", register_n, "register this many cloudlets, then exit");
  app.add_option("--dns", dns, "ADDR:PORT of the DNS server");
  app.add_option("--zone", zone, "the zone")->capture_default_str();
  app.add_option("--subnets", subnets_file, "the server's subnets file (ECS queries come from its subnets)");
  app.add_option("--mode", mode, "ecs: SRV with a client subnet; source: SRV without; name: a placement name (NXDOMAIN)")
      ->check(CLI::IsMember({"ecs", "source", "name"}))->capture_default_str();
  app.add_option("--concurrency", concurrency, "queries in flight")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--seconds", seconds, "how long to run")->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (register_n > 0) return Register(registry, token, register_n, seed);

  std::vector<uint32_t> subnets;
  std::ifstream in(subnets_file);
  for (std::string line; std::getline(in, line);) {
    in_addr a{};
    if (line.empty() || line[0] == '#') continue;
    if (inet_pton(AF_INET, line.substr(0, line.find('/')).c_str(), &a) == 1) subnets.push_back(a.s_addr);
  }
  if (mode == "ecs" && subnets.empty()) return std::cerr << "dns_load: --subnets holds no IPv4 subnet\n", 2;
  const size_t colon = dns.rfind(':');
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(dns.substr(colon + 1))));
  inet_pton(AF_INET, dns.substr(0, colon).c_str(), &to.sin_addr);
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);

  std::mt19937_64 rng(seed);
  std::vector<Clock::time_point> sent(65536);
  std::vector<bool> pending(65536, false);
  std::vector<double> latencies_us;
  uint64_t answered = 0, lost = 0, empty = 0;
  uint16_t next_id = 0;
  int in_flight = 0;
  auto send_one = [&] {
    const uint16_t id = next_id++;
    std::vector<uint8_t> q;
    if (mode == "ecs") q = Query(id, "_cloudlet._tcp." + zone, 33, subnets[rng() % subnets.size()]);
    else if (mode == "source") q = Query(id, "_cloudlet._tcp." + zone, 33, 0);
    else {
      char name[32];
      std::snprintf(name, sizeof name, "pl-%016llx.", static_cast<unsigned long long>(rng()));
      q = Query(id, name + zone, 1, 0);
    }
    if (pending[id]) ++lost, --in_flight;  // never answered: its id comes round again
    sent[id] = Clock::now();
    pending[id] = true;
    sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ++in_flight;
  };
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int i = 0; i < concurrency; ++i) send_one();
  uint8_t reply[2048];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) {  // everything in flight was lost: start again
      lost += static_cast<uint64_t>(in_flight);
      std::fill(pending.begin(), pending.end(), false);
      in_flight = 0;
      for (int i = 0; i < concurrency; ++i) send_one();
      continue;
    }
    const ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 12) continue;
    const uint16_t id = static_cast<uint16_t>(reply[0] << 8 | reply[1]);
    if (!pending[id]) continue;
    pending[id] = false;
    --in_flight;
    ++answered;
    if ((reply[6] << 8 | reply[7]) == 0) ++empty;
    latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent[id]).count());
    send_one();
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double q) {
    return latencies_us.empty() ? 0.0 : latencies_us[std::min(latencies_us.size() - 1, static_cast<size_t>(q * latencies_us.size()))];
  };
  nlohmann::json out = {{"mode", mode}, {"answered", answered}, {"lost", lost}, {"without_answers", empty},
                        {"answers_per_s", answered / elapsed}, {"p50_ms", pct(0.5) / 1000}, {"p99_ms", pct(0.99) / 1000},
                        {"concurrency", concurrency}, {"seconds", elapsed}};
  std::cout << out.dump() << std::endl;
  close(fd);
  return answered > 0 ? 0 : 1;
}
