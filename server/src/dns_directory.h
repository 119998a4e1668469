// The DNS server's view of cloudletd: healthy cloudlets from the registry, running placements by
// name from the placement service.
#pragma once

#include <chrono>
#include <mutex>

#include "cloudlet/discovery/registry.h"
#include "cloudlet/dns/responder.h"
#include "cloudlet/placement/placement_service.h"

namespace cloudlet::server {

// "http://10.0.0.2:8471/..." or "[2001:db8::2]:8471" -> host and port; nullopt when there is no port
// to be had.
std::optional<dns::DnsTarget> TargetOfEndpoint(const std::string& id, const std::string& endpoint);

// Thread-safe. The least-loaded list (for clients whose place is unknown) is rebuilt at most once a
// second: a whole-fleet scan per query would not scale to 10,000 cloudlets.
class RegistryDnsDirectory final : public dns::DnsDirectory {
 public:
  RegistryDnsDirectory(const discovery::Registry& registry, const placement::PlacementService& placements)
      : registry_(registry), placements_(placements) {}
  std::vector<dns::DnsTarget> Nearest(const std::optional<common::GeoPoint>& at, size_t k) override;
  std::optional<dns::DnsTarget> Cloudlet(const std::string& id) override;
  std::optional<dns::DnsTarget> Placement(const std::string& name) override;

 private:
  const discovery::Registry& registry_;
  const placement::PlacementService& placements_;
  std::mutex mu_;
  std::vector<dns::DnsTarget> least_loaded_;  // up to 10, least loaded first
  std::chrono::steady_clock::time_point least_loaded_at_{};
};

}  // namespace cloudlet::server
