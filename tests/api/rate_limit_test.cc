#include "cloudlet/api/rate_limit.h"

#include <gtest/gtest.h>

namespace cloudlet::api {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, AllowsABurstThenTheRateAndSaysHowLongToWait) {
  RateLimiter limiter({.per_second = 2, .burst = 3});
  const Steady::time_point t0{};
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.Acquire("a", t0)) << i;
  auto wait = limiter.Acquire("a", t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 1s);
  EXPECT_FALSE(limiter.Acquire("b", t0));  // buckets are per key
  EXPECT_FALSE(limiter.Acquire("a", t0 + 500ms));  // one token back after half a second
  EXPECT_TRUE(limiter.Acquire("a", t0 + 500ms));
}

TEST(RateLimiter, ZeroMeansNoLimit) {
  RateLimiter limiter({.per_second = 0, .burst = 0});
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(limiter.Acquire("a", Steady::time_point{}));
}

TEST(BadTokenTracker, LocksAnAddressOutForTheRestOfItsWindow) {
  BadTokenTracker tracker({.limit = 3, .window = 60s});
  const Steady::time_point t0{};
  for (int i = 0; i < 2; ++i) tracker.RecordFailure("10.0.0.1", t0);
  EXPECT_FALSE(tracker.LockedOut("10.0.0.1", t0));
  tracker.RecordFailure("10.0.0.1", t0 + 10s);
  auto wait = tracker.LockedOut("10.0.0.1", t0 + 10s);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 50s);
  EXPECT_FALSE(tracker.LockedOut("10.0.0.2", t0 + 10s));
  EXPECT_FALSE(tracker.LockedOut("10.0.0.1", t0 + 61s));
}

}  // namespace
}  // namespace cloudlet::api

#include "cloudlet/api/usage_routes.h"

namespace cloudlet::api {
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
}  // namespace cloudlet::api
