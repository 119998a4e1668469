// Valid cloudlet descriptors for tests, as JSON text and as values.
#pragma once

#include <string>

#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::testing {

inline std::string Digest(char fill) { return "sha256:" + std::string(64, fill); }

inline discovery::CloudletDescriptor MakeDescriptor(const std::string& id, double lat = 40.44, double lon = -79.94) {
  discovery::CloudletDescriptor d;
  d.id = id;
  d.name = "Cloudlet " + id;
  d.endpoint = "http://10.0.0.1:8471";
  d.geo = common::GeoPoint{lat, lon};
  d.capacity = {16'000, 65'536, 1};
  d.isolation = {"vm", "container"};
  d.base_vms = {{Digest('a'), 8192}};
  d.wan_mbps = 1000;
  d.labels = {{"tier", "gold"}};
  return d;
}

}  // namespace cloudlet::testing
