#include "cloudlet/common/time_format.h"

#include <chrono>
#include <cstdio>

namespace cloudlet::common {

std::string FormatRfc3339(TimePoint t) {
  using namespace std::chrono;
  const int64_t ms = ToUnixMillis(t);
  const auto day_point = floor<days>(sys_time<milliseconds>(milliseconds(ms)));
  const year_month_day ymd(day_point);
  const int64_t ms_of_day = ms - duration_cast<milliseconds>(day_point.time_since_epoch()).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(ms_of_day / 3'600'000), static_cast<long long>(ms_of_day / 60'000 % 60),
                static_cast<long long>(ms_of_day / 1000 % 60), static_cast<long long>(ms_of_day % 1000));
  return buf;
}

Result<TimePoint> ParseRfc3339(std::string_view text, std::string_view what) {
  using namespace std::chrono;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, frac = 0, consumed = 0;
  const std::string str(text.substr(0, 40));
  const bool has_frac = std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s, &frac,
                                    &consumed) == 7 && consumed == static_cast<int>(str.size());
  if (!has_frac) {
    consumed = 0;
    frac = 0;
    if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6 ||
        consumed != static_cast<int>(str.size())) {
      return Status::InvalidField(std::string(what), "expected an RFC 3339 UTC time such as 2026-11-27T18:00:00Z");
    }
  }
  // Times are kept in nanoseconds since 1970 (about 292 years either way): a year outside
  // 1970..2199 is refused here, before any arithmetic could overflow (the fuzzer found 2826).
  if (y < kFirstYear || y > kLastYear) {
    return Status::InvalidField(std::string(what), "must be between " + std::to_string(kFirstYear) + " and " +
                                                       std::to_string(kLastYear));
  }
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 || frac < 0) {
    return Status::InvalidField(std::string(what), "is not a valid calendar time");
  }
  const int64_t ms = duration_cast<milliseconds>(sys_days(ymd).time_since_epoch()).count() +
                     ((h * 60LL + mi) * 60 + s) * 1000 + frac;
  return FromUnixMillis(ms);
}

}  // namespace cloudlet::common
