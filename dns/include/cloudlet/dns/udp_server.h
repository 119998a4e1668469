// The DNS listener: one UDP socket, a thread that answers through a DnsResponder, and a token bucket
// per source address so that no one source (or spoofer of it) takes the server or aims it at a
// victim.
//
//   auto server = DnsUdpServer::Start({.listen = "127.0.0.1:8053"}, responder);
//   if (!server.ok()) { ... }   // names the address that could not be bound
//   (*server)->Stop();          // also done by the destructor
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "cloudlet/common/status.h"
#include "cloudlet/dns/responder.h"

namespace cloudlet::dns {

// Queries per second per source address; beyond the burst, queries are dropped unanswered (a
// reply would help a reflection attack). At most kMaxSources are tracked; past that the table starts
// afresh. Time is passed in. Thread-safe.
class SourceRateLimiter {
 public:
  static constexpr size_t kMaxSources = 100'000;
  SourceRateLimiter(double per_second, double burst) : per_second_(per_second), burst_(std::max(1.0, burst)) {}
  bool Allow(const IpAddress& source, std::chrono::steady_clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  const double per_second_, burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

struct UdpServerOptions {
  std::string listen;           // "ADDR:PORT"
  double rate_per_source = 100;  // queries per second (0: no limit)
  double burst_per_source = 200;
};

struct UdpServerStats {
  uint64_t answered = 0, dropped_malformed = 0, dropped_rate = 0;
};

class DnsUdpServer {
 public:
  // Bound before it returns: Unavailable naming the address when it cannot be.
  static common::Result<std::unique_ptr<DnsUdpServer>> Start(const UdpServerOptions& options,
                                                             const DnsResponder& responder);
  ~DnsUdpServer();
  void Stop();
  uint16_t port() const { return port_; }
  UdpServerStats stats() const;

 private:
  DnsUdpServer(const UdpServerOptions& options, const DnsResponder& responder, int fd, uint16_t port);
  void Serve();

  const DnsResponder& responder_;
  SourceRateLimiter limiter_;
  const bool limited_;
  int fd_;
  uint16_t port_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> answered_{0}, dropped_malformed_{0}, dropped_rate_{0};
  std::thread thread_;
};

}  // namespace cloudlet::dns
