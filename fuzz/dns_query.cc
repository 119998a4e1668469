// cloudletd's DNS responder (dns/responder.h) on whatever arrives at its UDP port: the input's first
// byte picks the source address (in a known subnet or not), the rest is the packet. A reply must
// answer the query's id, be a response, and fit in a UDP datagram.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cloudlet/dns/responder.h"

namespace {

using cloudlet::dns::DnsTarget;

class FixedDirectory final : public cloudlet::dns::DnsDirectory {
 public:
  std::vector<DnsTarget> Nearest(const std::optional<cloudlet::common::GeoPoint>& at, size_t k) override {
    std::vector<DnsTarget> all = {{"cl-a", "10.0.0.2", 8471}, {"cl-b", "2001:db8::2", 8471}, {"cl-c", "agent.example.net", 8471}};
    if (!at) std::swap(all[0], all[2]);
    all.resize(std::min(k, all.size()));
    return all;
  }
  std::optional<DnsTarget> Cloudlet(const std::string& id) override {
    if (id == "cl-a") return DnsTarget{"cl-a", "10.0.0.2", 8471};
    return std::nullopt;
  }
  std::optional<DnsTarget> Placement(const std::string& name) override {
    if (name == "pl-0123456789abcdef") return DnsTarget{name, "10.0.0.2", 30001};
    return std::nullopt;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static FixedDirectory directory;
  static const auto subnets =
      cloudlet::dns::SubnetMap::Parse("10.1.0.0/16,40.44,-79.94\n10.1.2.0/24,40.45,-79.95\n2001:db8::/32,1,2\n", "fuzz");
  static const cloudlet::dns::DnsResponder responder({.zone = "cloudlet.test", .answers = 3}, directory, &*subnets);
  cloudlet::dns::IpAddress source = *cloudlet::dns::ParseIp(data[0] & 1 ? "10.1.2.3" : "192.0.2.7");
  auto reply = responder.Answer({data + 1, size - 1}, source);
  if (!reply) return 0;
  if (reply->size() < 12 || reply->size() > 1232 || (*reply)[0] != data[1] || (*reply)[1] != data[2] ||
      !((*reply)[2] & 0x80)) {
    __builtin_trap();
  }
  return 0;
}
