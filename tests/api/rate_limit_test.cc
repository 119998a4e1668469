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
