#include "cloudlet/common/duration.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace cloudlet::common {

Result<Millis> ParseDuration(std::string_view text, std::string_view what) {
  const std::string field(what);
  const auto bad = [&](const std::string& why) {
    // Appended piece by piece: "'" + std::string(...) trips a false -Wrestrict in GCC 12 at -O3.
    std::string message = "'";
    message.append(text.substr(0, 64));
    message.append("' ").append(why);
    return Status::InvalidField(field, message);
  };
  if (text.empty()) return bad("is empty; use a number and a unit such as 15s or 500ms");
  size_t unit_at = text.find_first_not_of("0123456789.");
  if (unit_at == 0) return bad("must start with a non-negative number");
  if (unit_at == std::string_view::npos) return bad("has no unit; use ms, s, m or h");
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + unit_at, number);
  if (ec != std::errc() || ptr != text.data() + unit_at || !std::isfinite(number)) {
    return bad("is not a number followed by a unit");
  }
  std::string_view unit = text.substr(unit_at);
  double scale_ms = 0;
  if (unit == "ms") scale_ms = 1;
  else if (unit == "s") scale_ms = 1000;
  else if (unit == "m") scale_ms = 60'000;
  else if (unit == "h") scale_ms = 3'600'000;
  else return bad("has an unknown unit; use ms, s, m or h");
  const double ms = number * scale_ms;
  if (ms > 366.0 * 24 * 3'600'000) return bad("is longer than a year");
  return Millis(static_cast<int64_t>(std::llround(ms)));
}

std::string FormatDuration(Millis d) {
  const int64_t ms = d.count();
  char buf[48];
  if (ms % 3'600'000 == 0 && ms != 0) std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(ms / 3'600'000));
  else if (ms % 60'000 == 0 && ms != 0) std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(ms / 60'000));
  else if (ms % 1000 == 0) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  else if (ms > 1000) std::snprintf(buf, sizeof buf, "%gs", static_cast<double>(ms) / 1000.0);
  else std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  return buf;
}

}  // namespace cloudlet::common
