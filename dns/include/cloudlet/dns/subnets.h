// Where clients are, by the subnet they ask from: the operator's CSV of `cidr,lat,lon` lines, and a
// longest-prefix lookup over it (IPv4 and IPv6).
//
//   auto subnets = SubnetMap::Load("/etc/cloudlet/subnets.csv");   // errors name the file and line
//   auto ip = ParseIp("10.1.2.3");
//   if (auto m = subnets->Lookup(*ip, 32)) { m->geo ...; m->prefix_bits ... }
//
// Immutable once loaded: Lookup is safe from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"

namespace cloudlet::dns {

struct IpAddress {
  int family = 0;  // 4 or 6
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4

  int bits() const { return family == 4 ? 32 : 128; }
  std::string ToString() const;
};

// "10.1.2.3" or "2001:db8::1"; InvalidArgument otherwise.
common::Result<IpAddress> ParseIp(std::string_view text);

struct SubnetMatch {
  common::GeoPoint geo;
  int prefix_bits = 0;  // of the subnet that matched (the scope of an ECS answer)
};

class SubnetMap {
 public:
  static constexpr size_t kMaxSubnets = 1'000'000;

  // Lines `cidr,lat,lon`; blank lines and lines starting with '#' are skipped. `source` names the
  // text in errors ("subnets.csv:12: ...").
  static common::Result<SubnetMap> Parse(std::string_view text, const std::string& source);
  static common::Result<SubnetMap> Load(const std::string& path);

  // The longest prefix of at most `max_bits` that holds `ip` (an ECS query tells only its first
  // SOURCE PREFIX-LENGTH bits, so longer subnets cannot be told apart).
  std::optional<SubnetMatch> Lookup(const IpAddress& ip, int max_bits) const;
  size_t size() const { return count_; }

 private:
  // Per family, per prefix length (longest first): the masked address bytes -> position.
  struct Level {
    int bits = 0;
    std::unordered_map<std::string, common::GeoPoint> nets;
  };
  std::vector<Level> v4_, v6_;
  size_t count_ = 0;
};

}  // namespace cloudlet::dns
