// Positions on the Earth and the distance between them.
//
//   GeoPoint pittsburgh{40.44, -79.99}, boston{42.36, -71.06};
//   double km = GreatCircleKm(pittsburgh, boston);   // ~ 776 km
#pragma once

#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::common {

struct GeoPoint {
  double lat = 0;  // degrees, -90..90
  double lon = 0;  // degrees, -180..180

  bool operator==(const GeoPoint&) const = default;
};

// Haversine distance on a sphere of the Earth's mean radius (6371.0088 km, IUGG).
double GreatCircleKm(const GeoPoint& a, const GeoPoint& b);

bool IsValidGeo(const GeoPoint& p);

// "<lat>,<lon>" in degrees; an InvalidField error naming `field` otherwise.
Result<GeoPoint> ParseGeoPoint(std::string_view text, std::string_view field);

}  // namespace cloudlet::common
