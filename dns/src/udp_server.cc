#include "cloudlet/dns/udp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "cloudlet/common/host_port.h"

namespace cloudlet::dns {

bool SourceRateLimiter::Allow(const IpAddress& source, std::chrono::steady_clock::time_point now) {
  const std::string key(reinterpret_cast<const char*>(source.bytes.data()), source.family == 4 ? 4 : 16);
  std::lock_guard lock(mu_);
  if (buckets_.size() >= kMaxSources && !buckets_.count(key)) buckets_.clear();
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.at).count() * per_second_);
    b.at = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

common::Result<std::unique_ptr<DnsUdpServer>> DnsUdpServer::Start(const UdpServerOptions& options,
                                                                  const DnsResponder& responder) {
  auto at = common::ParseHostPort(options.listen, "dns-listen");
  if (!at.ok()) return at.status();
  auto ip = ParseIp(at->host);
  if (!ip.ok()) return common::Status::InvalidField("dns-listen", "give an IP address and port, e.g. 127.0.0.1:8053");
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (ip->family == 4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(at->port);
    std::memcpy(&a->sin_addr, ip->bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(at->port);
    std::memcpy(&a->sin6_addr, ip->bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  const int fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::Status::Unavailable(std::string("dns: socket: ") + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return common::Status::Unavailable("dns: cannot listen on " + options.listen + " (UDP): " + why);
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  const uint16_t port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                         : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return std::unique_ptr<DnsUdpServer>(new DnsUdpServer(options, responder, fd, port));
}

DnsUdpServer::DnsUdpServer(const UdpServerOptions& options, const DnsResponder& responder, int fd, uint16_t port)
    : responder_(responder),
      limiter_(options.rate_per_source, options.burst_per_source),
      limited_(options.rate_per_source > 0),
      fd_(fd),
      port_(port),
      thread_([this] { Serve(); }) {}

DnsUdpServer::~DnsUdpServer() { Stop(); }

void DnsUdpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

UdpServerStats DnsUdpServer::stats() const {
  return {answered_.load(), dropped_malformed_.load(), dropped_rate_.load()};
}

void DnsUdpServer::Serve() {
  uint8_t buf[4096];
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;  // wakes to notice Stop()
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    IpAddress source;
    if (from.ss_family == AF_INET) {
      source.family = 4;
      std::memcpy(source.bytes.data(), &reinterpret_cast<sockaddr_in*>(&from)->sin_addr, 4);
    } else if (from.ss_family == AF_INET6) {
      source.family = 6;
      std::memcpy(source.bytes.data(), &reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr, 16);
    }
    if (limited_ && !limiter_.Allow(source, std::chrono::steady_clock::now())) {
      ++dropped_rate_;
      continue;
    }
    auto reply = responder_.Answer({buf, static_cast<size_t>(n)}, source);
    if (!reply) {
      ++dropped_malformed_;
      continue;
    }
    ::sendto(fd_, reply->data(), reply->size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), from_len);
    ++answered_;
  }
}

}  // namespace cloudlet::dns
