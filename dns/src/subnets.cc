#include "cloudlet/dns/subnets.h"

#include <arpa/inet.h>

#include <algorithm>

#include "cloudlet/common/files.h"

namespace cloudlet::dns {
namespace {

using common::Result;
using common::Status;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The first `bits` bits of `ip`, the rest cleared, as a map key.
std::string Masked(const IpAddress& ip, int bits) {
  std::string key(reinterpret_cast<const char*>(ip.bytes.data()), static_cast<size_t>((bits + 7) / 8));
  if (bits % 8) key.back() = static_cast<char>(static_cast<uint8_t>(key.back()) & (0xFF << (8 - bits % 8)));
  return key;
}

}  // namespace

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

Result<IpAddress> ParseIp(std::string_view text) {
  IpAddress ip;
  const std::string s(text.substr(0, 64));
  if (::inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = 4;
  } else if (::inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = 6;
  } else {
    return Status::InvalidArgument("'" + s + "' is not an IPv4 or IPv6 address");
  }
  return ip;
}

Result<SubnetMap> SubnetMap::Parse(std::string_view text, const std::string& source) {
  SubnetMap map;
  std::unordered_map<int, Level> v4, v6;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = source + ":" + std::to_string(line_no) + ": ";
    const size_t c1 = line.find(',');
    const size_t slash = line.substr(0, c1).find('/');
    if (c1 == std::string_view::npos || slash == std::string_view::npos) {
      return Status::InvalidArgument(where + "expected cidr,lat,lon (e.g. 10.1.0.0/16,40.44,-79.94)");
    }
    auto ip = ParseIp(Trim(line.substr(0, slash)));
    if (!ip.ok()) return Status::InvalidArgument(where + ip.status().message());
    const std::string bits_text(Trim(line.substr(slash + 1, c1 - slash - 1)));
    char* end = nullptr;
    const long bits = std::strtol(bits_text.c_str(), &end, 10);
    if (bits_text.empty() || *end != '\0' || bits < 0 || bits > ip->bits()) {
      return Status::InvalidArgument(where + "prefix length '" + bits_text + "' must be 0 to " + std::to_string(ip->bits()));
    }
    auto geo = common::ParseGeoPoint(Trim(line.substr(c1 + 1)), "lat,lon");
    if (!geo.ok()) return Status::InvalidArgument(where + geo.status().message());
    if (map.count_ >= kMaxSubnets) return Status::InvalidArgument(where + "more than " + std::to_string(kMaxSubnets) + " subnets");
    Level& level = (ip->family == 4 ? v4 : v6)[static_cast<int>(bits)];
    level.bits = static_cast<int>(bits);
    // A later line for the same subnet wins, as in a routing table loaded in order.
    level.nets[Masked(*ip, level.bits)] = *geo;
    ++map.count_;
  }
  for (auto [from, to] : {std::pair{&v4, &map.v4_}, std::pair{&v6, &map.v6_}}) {
    for (auto& [bits, level] : *from) to->push_back(std::move(level));
    std::sort(to->begin(), to->end(), [](const Level& a, const Level& b) { return a.bits > b.bits; });
  }
  return map;
}

Result<SubnetMap> SubnetMap::Load(const std::string& path) {
  auto text = common::ReadSmallFile(path, 64u << 20);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

std::optional<SubnetMatch> SubnetMap::Lookup(const IpAddress& ip, int max_bits) const {
  for (const Level& level : ip.family == 4 ? v4_ : v6_) {
    if (level.bits > max_bits) continue;
    auto it = level.nets.find(Masked(ip, level.bits));
    if (it != level.nets.end()) return SubnetMatch{it->second, level.bits};
  }
  return std::nullopt;
}

}  // namespace cloudlet::dns
