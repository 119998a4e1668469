#include <cmath>

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
  EXPECT_NEAR(AmortisedProvisionMs(10, 10, 600), 10'000.0 / 6000, 1e-12);
  // Fewer than one request: the whole provisioning time counts.
  EXPECT_DOUBLE_EQ(AmortisedProvisionMs(10, 0.01, 10), 10'000);
  EXPECT_DOUBLE_EQ(CostMs(5, 40, 10, 10, 600), 5 + 40 + 10'000.0 / 6000);
}

TEST(CostModelTest, SynthesisIsTheSlowestPipelineStagePlusLaunch) {
  SynthesisModel m;  // 120 MB/s decompress, 150 MB/s apply, 2.5 s launch, nothing hidden, 1 s fetch overhead
  // 200 MB over 100 Mbit/s: 16 s of transfer beats 1.67 s of decompression.
  EXPECT_NEAR(m.OverlaySeconds(200, InverseRate(100)), 2.5 + 16, 1e-9);
  // Over 10 Gbit/s the decompression (200 / 120 s) is the slowest stage.
  EXPECT_NEAR(m.OverlaySeconds(200, InverseRate(10'000)), 2.5 + 200.0 / 120, 1e-9);
  // Without the base: 1 s, then 8 GB over 1 Gbit/s, then the overlay.
  const double overlay_s = m.OverlaySeconds(200, InverseRate(1000));
  EXPECT_NEAR(m.FullSeconds(8192, InverseRate(1000), overlay_s), 1 + 65.536 + overlay_s, 1e-9);
  // A link of 0 Mbit/s is very slow, not infinite.
  EXPECT_TRUE(std::isfinite(m.OverlaySeconds(1, InverseRate(0))));
}

}  // namespace
}  // namespace cloudlet::placement
