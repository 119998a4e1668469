// Human durations for flags and query parameters.
//
//   auto ttl = cloudlet::common::ParseDuration("15s");      // 15000 ms
//   cloudlet::common::FormatDuration(std::chrono::milliseconds(1500));  // "1.5s"
#pragma once

#include <string>
#include <string_view>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"

namespace cloudlet::common {

// Accepts a non-negative decimal number followed by a unit: ms, s, m, h ("250ms", "1.5s", "10m").
// A bare number is rejected: the unit must be explicit. Errors name `what` (a flag or field).
Result<Millis> ParseDuration(std::string_view text, std::string_view what = "duration");

std::string FormatDuration(Millis d);

}  // namespace cloudlet::common
