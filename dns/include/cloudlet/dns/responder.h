// The DNS answers of cloudletd (`--dns-zone ZONE`), as bytes in and bytes out: no sockets here, so
// the fuzzer and unit tests drive it directly.
//
//   _cloudlet._tcp.ZONE SRV     the k nearest healthy cloudlets' agents, nearest first (priority =
//                               rank), their addresses in the additional section. Where the client
//                               is comes from EDNS Client Subnet (RFC 7871), else its source address,
//                               looked up in the operator's subnets; unknown: the least loaded.
//   <id>.cloudlet.ZONE A/AAAA   a cloudlet's agent (the targets of those SRV records)
//   <name>.ZONE A/AAAA, SRV     a running placement's endpoint (its name follows it across migration)
//   anything else in ZONE       NXDOMAIN; names outside ZONE: REFUSED (no recursion)
//
// Malformed packets, responses and queries with no question get no answer at all.
//
//   DnsResponder responder({.zone = "cloudlet.example."}, directory, &subnets);
//   if (auto reply = responder.Answer(packet, source_ip)) sendto(...reply...);
//
// Thread-safe when the directory is.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"
#include "cloudlet/dns/subnets.h"

namespace cloudlet::dns {

// Where a name points: an address (IPv4 or IPv6 literal) or a host name, and a port.
struct DnsTarget {
  std::string id;    // the cloudlet's id, or the placement's name
  std::string host;  // "10.0.0.2", "2001:db8::2" or "agent.example.net"
  uint16_t port = 0;
};

// What the answers are made of: the registry and the placements (server/ implements it).
class DnsDirectory {
 public:
  virtual ~DnsDirectory() = default;
  // Up to `k` healthy cloudlets, nearest to `at` first; without `at`, the least loaded first.
  virtual std::vector<DnsTarget> Nearest(const std::optional<common::GeoPoint>& at, size_t k) = 0;
  // A healthy cloudlet by id.
  virtual std::optional<DnsTarget> Cloudlet(const std::string& id) = 0;
  // The running placement that answers under `name`.
  virtual std::optional<DnsTarget> Placement(const std::string& name) = 0;
};

struct ResponderOptions {
  std::string zone;                 // "cloudlet.example" (a trailing dot is added)
  size_t answers = 3;               // k: SRV records per _cloudlet._tcp answer, 1..10
  uint32_t ttl_s = 10;              // of cloudlet answers
  uint32_t placement_ttl_s = 5;     // of placement answers, and of negative answers (SOA minimum)

  // Errors name the field (zone, answers, ...).
  common::Status Validate() const;
};

class DnsResponder {
 public:
  // `subnets` may be null (no file given): then only ECS and source addresses it cannot place.
  DnsResponder(ResponderOptions options, DnsDirectory& directory, const SubnetMap* subnets);

  // The reply to `query` from `source`, or nullopt to send nothing (malformed, or not a query). It
  // fits the client's UDP buffer (512 bytes, or its EDNS size up to 1232): the additional section
  // goes first, then the answers with TC set.
  std::optional<std::vector<uint8_t>> Answer(std::span<const uint8_t> query, const IpAddress& source) const;

  const ResponderOptions& options() const { return options_; }

 private:
  ResponderOptions options_;
  DnsDirectory& directory_;
  const SubnetMap* subnets_;
};

}  // namespace cloudlet::dns
