// Short-lived, stateless app tokens: a tenant's backend mints one and hands it to its mobile app.
//
//   cla.<payload>.<mac>     payload: base64url of JSON {"v":1,"id":"...","tenant":"...","kid":"...",
//                                     "scopes":[...],"iat":<unix s>,"exp":<unix s>}
//                           mac: base64url of HMAC-SHA256(tenant signing key, "cla." + payload)
//
//   std::string t = SignAppToken(claims, key);
//   auto claims = ParseAppToken(t);                  // structure only; then:
//   if (VerifyAppTokenMac(t, key)) ...               // constant time
//
// At most 24 h from issue. Verified without a database read: the caller holds the tenant's key.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"

namespace cloudlet::auth {

inline constexpr std::chrono::hours kMaxAppTokenLifetime{24};

struct AppTokenClaims {
  int version = 1;
  std::string id;
  std::string tenant;
  std::string key_id;
  std::vector<std::string> scopes;
  int64_t issued_at = 0;   // unix seconds
  int64_t expires_at = 0;  // unix seconds
};

bool LooksLikeAppToken(std::string_view token);
std::string SignAppToken(const AppTokenClaims& claims, std::string_view key_hex);
common::Result<AppTokenClaims> ParseAppToken(std::string_view token);
bool VerifyAppTokenMac(std::string_view token, std::string_view key_hex);

}  // namespace cloudlet::auth
