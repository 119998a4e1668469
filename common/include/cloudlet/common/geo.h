// Positions on the Earth and the distance between them.
//
//   GeoPoint pittsburgh{40.44, -79.99}, boston{42.36, -71.06};
//   double km = GreatCircleKm(pittsburgh, boston);   // ~ 776 km
#pragma once

#include <algorithm>
#include <cmath>
#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::common {

struct GeoPoint {
  double lat = 0;  // degrees, -90..90
  double lon = 0;  // degrees, -180..180

  bool operator==(const GeoPoint&) const = default;
};

inline constexpr double kEarthRadiusKm = 6371.0088;  // mean radius (IUGG)

// A position as a unit vector from the Earth's centre: distances then need no trigonometry but one
// arcsine, and bounds on them none at all (the placement engine keeps these per cloudlet).
struct UnitVector {
  double x = 0, y = 0, z = 0;
};
UnitVector ToUnitVector(const GeoPoint& p);

// The great-circle distance in km between two points whose unit vectors are `chord` apart.
inline double ChordToKm(double chord) { return 2 * kEarthRadiusKm * std::asin(std::min(1.0, chord / 2)); }

// Great-circle distance on a sphere of the Earth's mean radius.
double GreatCircleKm(const GeoPoint& a, const GeoPoint& b);

bool IsValidGeo(const GeoPoint& p);

// "<lat>,<lon>" in degrees; an InvalidField error naming `field` otherwise.
Result<GeoPoint> ParseGeoPoint(std::string_view text, std::string_view field);

}  // namespace cloudlet::common
