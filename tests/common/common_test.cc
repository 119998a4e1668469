#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/common/timer_queue.h"

namespace cloudlet::common {
namespace {

using std::chrono::milliseconds;

TEST(StatusTest, InvalidFieldNamesTheField) {
  Status s = Status::InvalidField("capacity.cpu_millis", "must be >= 0");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "capacity.cpu_millis: must be >= 0");
  ASSERT_TRUE(s.field().has_value());
  EXPECT_EQ(*s.field(), "capacity.cpu_millis");
  EXPECT_EQ(s.WithContext("PUT cl-a").message(), "PUT cl-a: capacity.cpu_millis: must be >= 0");
  EXPECT_EQ(*s.WithContext("x").field(), "capacity.cpu_millis");
}

TEST(StatusTest, ResultHoldsValueOrStatus) {
  Result<int> good = 7;
  Result<int> bad = Status::NotFound("nope");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(good.status().ok());
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
}

TEST(DurationTest, ParsesUnits) {
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("15s"), milliseconds(15'000));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1'500));
  EXPECT_EQ(*ParseDuration("10m"), milliseconds(600'000));
  EXPECT_EQ(*ParseDuration("2h"), milliseconds(7'200'000));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(DurationTest, RejectsMalformedAndNamesTheFlag) {
  for (const char* bad : {"", "15", "s", "-1s", "1x", "1.2.3s", "9999999h", "1 s"}) {
    auto r = ParseDuration(bad, "--heartbeat-ttl");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(*r.status().field(), "--heartbeat-ttl") << bad;
  }
}

TEST(DurationTest, FormatsReadably) {
  EXPECT_EQ(FormatDuration(milliseconds(15'000)), "15s");
  EXPECT_EQ(FormatDuration(milliseconds(600'000)), "10m");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1'500)), "1.5s");
  EXPECT_EQ(FormatDuration(milliseconds(7'200'000)), "2h");
}

TEST(TimeFormatTest, RoundTripsRfc3339) {
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  const TimePoint t = FromUnixMillis(1'795'795'200'123);  // 2026-11-27T...
  auto back = ParseRfc3339(FormatRfc3339(t));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(ToUnixMillis(*back), 1'795'795'200'123);
  EXPECT_EQ(ToUnixMillis(*ParseRfc3339("2000-03-01T12:30:05Z")), 951'913'805'000);
  EXPECT_FALSE(ParseRfc3339("2026-02-30T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
  // Years a nanosecond clock cannot hold are refused before any arithmetic (found by fuzzing).
  auto far = ParseRfc3339("2826-09-21T14:00:00Z", "start");
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.status().message(), "start: must be between 1970 and 2199");
  EXPECT_FALSE(ParseRfc3339("1012-09-01T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-09-01T-1:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-09-01T10:00:00.-12Z").ok());
  EXPECT_TRUE(ParseRfc3339("2199-12-31T23:59:59Z").ok());
}

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(FromUnixMillis(1000));
  EXPECT_EQ(ToUnixMillis(clock.Now()), 1000);
  clock.Advance(milliseconds(250));
  EXPECT_EQ(ToUnixMillis(clock.Now()), 1250);
  clock.Set(FromUnixMillis(5));
  EXPECT_EQ(ToUnixMillis(clock.Now()), 5);
}

TEST(GeoTest, GreatCircleMatchesKnownDistances) {
  // Pittsburgh to Boston is about 776 km; one degree of latitude about 111.2 km.
  EXPECT_NEAR(GreatCircleKm({40.4406, -79.9959}, {42.3601, -71.0589}), 776, 5);
  EXPECT_NEAR(GreatCircleKm({0, 0}, {1, 0}), 111.19, 0.05);
  EXPECT_DOUBLE_EQ(GreatCircleKm({10, 10}, {10, 10}), 0);
  EXPECT_TRUE(IsValidGeo({-90, 180}));
  EXPECT_FALSE(IsValidGeo({90.1, 0}));
  EXPECT_FALSE(IsValidGeo({0, std::nan("")}));
}

TEST(TimerQueueTest, PostedTasksRunInOrderAndCancelledOnesDoNot) {
  TimerQueue timers;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> ran;
  auto record = [&](int v) {
    return [&, v] {
      std::lock_guard lock(mu);
      ran.push_back(v);
      cv.notify_all();
    };
  };
  const auto never = timers.RunAfter(std::chrono::hours(1), record(99));
  timers.Post(record(1));
  timers.Post(record(2));
  timers.Post(record(3));
  EXPECT_TRUE(timers.Cancel(never));
  EXPECT_FALSE(timers.Cancel(never));
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return ran.size() == 3; }));
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueueTest, ShutdownDropsFutureTasks) {
  std::atomic<int> ran{0};
  TimerQueue timers;
  timers.RunAfter(std::chrono::hours(1), [&] { ran++; });
  timers.Shutdown();
  EXPECT_EQ(timers.RunAfter(milliseconds(0), [&] { ran++; }), 0u);
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace
}  // namespace cloudlet::common
