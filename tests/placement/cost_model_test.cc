#include <gtest/gtest.h>

#include "cloudlet/placement/cost_model.h"

namespace cloudlet::placement {
namespace {

TEST(CostModelTest, GeoRttIsAccessPlusStretchedFibreBothWays) {
  GeoLatencyModel m;  // 200 km/ms, stretch 2, access 4 ms
  EXPECT_DOUBLE_EQ(m.RttMs(0), 4.0);
  // 100 km: 2 * 100 * 2 / 200 = 2 ms of fibre, plus 4 ms access.
  EXPECT_DOUBLE_EQ(m.RttMs(100), 6.0);
  EXPECT_DOUBLE_EQ(m.RttMs(-5), 4.0);
}

TEST(CostModelTest, QueueingGrowsAsUtilisationNearsOne) {
  EXPECT_DOUBLE_EQ(*QueueMs(20, 0), 20);
  EXPECT_DOUBLE_EQ(*QueueMs(20, 0.5), 40);
  EXPECT_DOUBLE_EQ(*QueueMs(20, 0.9), 200);
  EXPECT_EQ(QueueMs(20, 1.0).status().code(), common::StatusCode::kResourceExhausted);
  EXPECT_EQ(QueueMs(20, 1.7).status().code(), common::StatusCode::kResourceExhausted);
  EXPECT_EQ(QueueMs(-1, 0.2).status().code(), common::StatusCode::kInvalidArgument);
}

TEST(CostModelTest, ProvisioningIsAmortisedOverTheSessionsRequests) {
  // 10 s of synthesis over 10 Hz x 600 s = 6000 requests: 1.666.. ms a request.
  EXPECT_NEAR(AmortisedProvisionMs(10'000, 10, 600), 10'000.0 / 6000, 1e-12);
  // Fewer than one request: the whole provisioning time counts.
  EXPECT_DOUBLE_EQ(AmortisedProvisionMs(10'000, 0.01, 10), 10'000);
  EXPECT_DOUBLE_EQ(CostMs(5, 40, 10'000, 10, 600), 5 + 40 + 10'000.0 / 6000);
}

}  // namespace
}  // namespace cloudlet::placement
