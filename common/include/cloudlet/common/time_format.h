// RFC 3339 timestamps in UTC with millisecond precision, as the REST API shows them.
//
//   FormatRfc3339(FromUnixMillis(0)) == "1970-01-01T00:00:00.000Z"
#pragma once

#include <string>
#include <string_view>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"

namespace cloudlet::common {

std::string FormatRfc3339(TimePoint t);
// The years a time may name: a TimePoint counts nanoseconds, which reach 2262.
inline constexpr int kFirstYear = 1970;
inline constexpr int kLastYear = 2199;

// Parses what FormatRfc3339 writes, with or without the fraction ("2026-11-27T18:00:00Z"), for
// years kFirstYear..kLastYear.
Result<TimePoint> ParseRfc3339(std::string_view text, std::string_view what = "time");

}  // namespace cloudlet::common
