#include "cloudlet/common/clock.h"

namespace cloudlet::common {

int64_t ToUnixMillis(TimePoint t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

TimePoint FromUnixMillis(int64_t ms) { return TimePoint(std::chrono::duration_cast<TimePoint::duration>(Millis(ms))); }

TimePoint ManualClock::Now() const { return FromUnixMillis(now_ms_.load()); }

const Clock& WallClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace cloudlet::common
