// Whether an mDNS advert comes from the cloudlet the registry knows under its id: the advert must be
// signed with the public key that cloudlet registered (auth issue; docs/security.md). What
// `cloudlet discover` prints in its SIGNATURE column and what the client library filters on.
#pragma once

#include <string>

#include "cloudlet/discovery/lan.h"

namespace cloudlet::discovery {

enum class AdvertTrust { kVerified, kUnverified, kRejected };
const char* AdvertTrustName(AdvertTrust t);  // "verified", "unverified", "rejected"

struct AdvertCheck {
  AdvertTrust trust = AdvertTrust::kUnverified;
  std::string why;  // empty when verified
};

// `registered_key` is the registry's key for the advert's id: nullptr when no registry was asked,
// empty when the registry holds none.
AdvertCheck CheckAdvert(const LanCloudlet& c, const std::string* registered_key);

}  // namespace cloudlet::discovery
