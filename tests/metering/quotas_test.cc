#include "cloudlet/metering/quotas.h"

#include <gtest/gtest.h>

namespace cloudlet::metering {
namespace {

TEST(Quotas, ExactlyAtALimitIsAllowedAndOneBeyondIsNot) {
  auth::TenantQuotas q;
  q.max_placements = 3;
  q.max_cpu_millis = 3000;
  q.max_monthly_spend = 100;
  EXPECT_TRUE(CheckQuotas("acme", q, 2, 2000, 1000, 99.99).ok());  // the third, up to 3000 millicores
  auto placements = CheckQuotas("acme", q, 3, 0, 1, 0);
  EXPECT_EQ(placements.code(), common::StatusCode::kResourceExhausted);
  EXPECT_NE(placements.message().find("3 live placements"), std::string::npos);
  EXPECT_EQ(CheckQuotas("acme", q, 0, 2000, 1001, 0).code(), common::StatusCode::kResourceExhausted);
  auto spend = CheckQuotas("acme", q, 0, 0, 1, 100);
  EXPECT_EQ(spend.code(), common::StatusCode::kResourceExhausted);
  EXPECT_NE(spend.message().find("100.00"), std::string::npos);
  EXPECT_TRUE(CheckQuotas("acme", {}, 1'000'000, 1'000'000, 1'000'000, 1e9).ok());  // no quotas, no limits
  auth::TenantQuotas zero;
  zero.max_placements = 0;
  EXPECT_FALSE(CheckQuotas("acme", zero, 0, 0, 0, 0).ok());
}

}  // namespace
}  // namespace cloudlet::metering
