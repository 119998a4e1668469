// Time is injected, never read from globals, so that tests and the simulator control it.
//
//   cloudlet::common::ManualClock clock(cloudlet::common::FromUnixMillis(0));
//   Registry registry(clock, options);
//   clock.Advance(std::chrono::seconds(16));   // the next health check sees 16 s pass
//
// Both clocks are safe to use from several threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cloudlet::common {

using TimePoint = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixMillis(int64_t ms);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// Wall-clock time.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

// The process-wide SystemClock, for production wiring and defaults.
const Clock& WallClock();

// Time that moves only when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : now_ms_(ToUnixMillis(start)) {}
  TimePoint Now() const override;
  void Advance(Millis by) { now_ms_.fetch_add(by.count()); }
  void Set(TimePoint t) { now_ms_.store(ToUnixMillis(t)); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace cloudlet::common
