#include "cloudlet/common/geo.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <cmath>
#include <numbers>

namespace cloudlet::common {

namespace {
constexpr double kRad = std::numbers::pi / 180.0;
}  // namespace

UnitVector ToUnitVector(const GeoPoint& p) {
  return {std::cos(p.lat * kRad) * std::cos(p.lon * kRad), std::cos(p.lat * kRad) * std::sin(p.lon * kRad),
          std::sin(p.lat * kRad)};
}

double GreatCircleKm(const GeoPoint& a, const GeoPoint& b) {
  const UnitVector u = ToUnitVector(a), v = ToUnitVector(b);
  const double dx = u.x - v.x, dy = u.y - v.y, dz = u.z - v.z;
  return ChordToKm(std::sqrt(dx * dx + dy * dy + dz * dz));
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
