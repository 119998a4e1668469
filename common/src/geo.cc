#include "cloudlet/common/geo.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <cmath>
#include <numbers>

namespace cloudlet::common {

double GreatCircleKm(const GeoPoint& a, const GeoPoint& b) {
  constexpr double kEarthRadiusKm = 6371.0088;
  constexpr double kRad = std::numbers::pi / 180.0;
  const double dlat = (b.lat - a.lat) * kRad;
  const double dlon = (b.lon - a.lon) * kRad;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(a.lat * kRad) * std::cos(b.lat * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(h)));
}

bool IsValidGeo(const GeoPoint& p) {
  return std::isfinite(p.lat) && std::isfinite(p.lon) && p.lat >= -90 && p.lat <= 90 && p.lon >= -180 &&
         p.lon <= 180;
}

Result<GeoPoint> ParseGeoPoint(std::string_view text, std::string_view field) {
  const size_t comma = text.find(',');
  GeoPoint g;
  auto number = [](std::string_view s, double& out) {
    if (s.empty() || s.size() > 32) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
  };
  if (comma == std::string_view::npos || !number(text.substr(0, comma), g.lat) ||
      !number(text.substr(comma + 1), g.lon) || !IsValidGeo(g)) {
    return Status::InvalidField(std::string(field), "must be <lat>,<lon> in degrees (-90..90, -180..180)");
  }
  return g;
}

}  // namespace cloudlet::common
