// How tenant networks are named and addressed: distinct per storage root, clear of the host's own.
#include "cloudlet/agent/tenant_networks.h"

#include <gtest/gtest.h>

namespace cloudlet::agent {
namespace {

TEST(TenantNetworksTest, EachStorageRootGetsItsOwnBridgeNameWithinTheKernelsLimit) {
  const std::string a = TenantNetworks::BridgeFor("/var/lib/a/run/net.d", "cloudlet-acme");
  const std::string b = TenantNetworks::BridgeFor("/var/lib/b/run/net.d", "cloudlet-acme");
  const std::string c = TenantNetworks::BridgeFor("/var/lib/a/run/net.d", "cloudlet-globex");
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a, TenantNetworks::BridgeFor("/var/lib/a/run/net.d", "cloudlet-acme")) << "stable across starts";
  EXPECT_EQ(a.size(), 15u);
  EXPECT_EQ(a.rfind("cl", 0), 0u);
}

TEST(TenantNetworksTest, SubnetsAvoidWhatIsInUseAndDifferPerBridge) {
  const std::string first = TenantNetworks::SubnetFor("cl0123456789abc", {});
  ASSERT_EQ(first.rfind("10.", 0), 0u) << first;
  EXPECT_EQ(first.substr(first.size() - 3), "/24");
  EXPECT_NE(first, TenantNetworks::SubnetFor("clfedcba9876543", {}));

  // A /24 that is taken, or lies inside a larger network in use, is passed over.
  const std::string second = TenantNetworks::SubnetFor("cl0123456789abc", {first});
  EXPECT_NE(second, first);
  EXPECT_EQ(TenantNetworks::SubnetFor("cl0123456789abc", {"127.0.0.1/8", "10.0.0.0/8"}), "")
      << "all of 10.128.0.0/9 lies in 10.0.0.0/8";
  EXPECT_NE(TenantNetworks::SubnetFor("cl0123456789abc", {"10.128.0.0/16"}).rfind("10.128.", 0), 0u);

  // A later attempt (after another podman took the first pick) gives the next free one.
  EXPECT_EQ(TenantNetworks::SubnetFor("cl0123456789abc", {}, 1), TenantNetworks::SubnetFor("cl0123456789abc", {first}));
  EXPECT_EQ(TenantNetworks::SubnetFor("cl0123456789abc", {"not a cidr", "fd00::/64"}), first) << "others are ignored";
}

}  // namespace
}  // namespace cloudlet::agent
