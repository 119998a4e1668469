#include "cloudlet/discovery/advert_check.h"

#include "cloudlet/auth/ed25519.h"

namespace cloudlet::discovery {

const char* AdvertTrustName(AdvertTrust t) {
  switch (t) {
    case AdvertTrust::kVerified: return "verified";
    case AdvertTrust::kRejected: return "rejected";
    case AdvertTrust::kUnverified: break;
  }
  return "unverified";
}

AdvertCheck CheckAdvert(const LanCloudlet& c, const std::string* registered_key) {
  if (registered_key == nullptr) return {AdvertTrust::kUnverified, "no registry to ask"};
  if (registered_key->empty()) return {AdvertTrust::kUnverified, "the registry holds no key for this id"};
  if (c.advert.public_key.empty() || c.advert.signature.empty()) return {AdvertTrust::kRejected, "the advert is not signed"};
  if (c.advert.public_key != *registered_key) {
    return {AdvertTrust::kRejected, "signed with a key that is not the registered one"};
  }
  if (!auth::VerifyEd25519(*registered_key, TxtSigningInput(c.txt), c.advert.signature)) {
    return {AdvertTrust::kRejected, "bad signature"};
  }
  return {AdvertTrust::kVerified, ""};
}

}  // namespace cloudlet::discovery
