#include "dns_directory.h"

#include <algorithm>

namespace cloudlet::server {

std::optional<dns::DnsTarget> TargetOfEndpoint(const std::string& id, const std::string& endpoint) {
  std::string rest = endpoint;
  if (const size_t scheme = rest.find("://"); scheme != std::string::npos) rest = rest.substr(scheme + 3);
  rest = rest.substr(0, rest.find('/'));
  std::string host, port;
  if (rest.starts_with('[')) {
    const size_t close = rest.find(']');
    if (close == std::string::npos || rest.size() < close + 2 || rest[close + 1] != ':') return std::nullopt;
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (host.empty() || port.empty() || *end != '\0' || p < 1 || p > 65535) return std::nullopt;
  return dns::DnsTarget{id, host, static_cast<uint16_t>(p)};
}

std::vector<dns::DnsTarget> RegistryDnsDirectory::Nearest(const std::optional<common::GeoPoint>& at, size_t k) {
  std::vector<dns::DnsTarget> out;
  if (at) {
    // A few spare, for endpoints that name no port.
    auto list = registry_.List({.state = discovery::Health::kHealthy, .near = *at, .limit = k + 4});
    for (const auto& e : list.entries) {
      if (out.size() == k) break;
      if (auto t = TargetOfEndpoint(e.record.descriptor.id, e.record.descriptor.endpoint)) out.push_back(*t);
    }
    return out;
  }
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now - least_loaded_at_ >= std::chrono::seconds(1)) {
    auto list = registry_.List({.state = discovery::Health::kHealthy});
    std::vector<std::pair<double, const discovery::CloudletRecord*>> by_load;
    for (const auto& e : list.entries) by_load.emplace_back(e.record.load, &e.record);
    const size_t keep = std::min<size_t>(by_load.size(), 14);
    std::partial_sort(by_load.begin(), by_load.begin() + static_cast<long>(keep), by_load.end(),
                      [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : a.second->descriptor.id < b.second->descriptor.id; });
    least_loaded_.clear();
    for (size_t i = 0; i < keep; ++i) {
      if (auto t = TargetOfEndpoint(by_load[i].second->descriptor.id, by_load[i].second->descriptor.endpoint)) {
        least_loaded_.push_back(*t);
      }
    }
    least_loaded_at_ = now;
  }
  out.assign(least_loaded_.begin(), least_loaded_.begin() + static_cast<long>(std::min(k, least_loaded_.size())));
  return out;
}

std::optional<dns::DnsTarget> RegistryDnsDirectory::Cloudlet(const std::string& id) {
  auto record = registry_.Get(id);
  if (!record.ok() || record->health != discovery::Health::kHealthy) return std::nullopt;
  return TargetOfEndpoint(id, record->descriptor.endpoint);
}

std::optional<dns::DnsTarget> RegistryDnsDirectory::Placement(const std::string& name) {
  auto p = placements_.RunningByName(name);
  if (!p) return std::nullopt;
  return TargetOfEndpoint(name, p->endpoint);
}

}  // namespace cloudlet::server
