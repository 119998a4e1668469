#include "cloudlet/auth/app_token.h"

#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "cloudlet/auth/token.h"

namespace cloudlet::auth {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

constexpr std::string_view kPrefix = "cla.";
constexpr size_t kMaxAppTokenBytes = 2048;

std::string Mac(std::string_view signed_part, std::string_view key_hex) {
  std::string key;
  for (size_t i = 0; i + 1 < key_hex.size(); i += 2) {
    key.push_back(static_cast<char>(std::stoi(std::string(key_hex.substr(i, 2)), nullptr, 16)));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(signed_part.data()),
       signed_part.size(), out, &len);
  OPENSSL_cleanse(key.data(), key.size());
  return Base64Url(out, len);
}

}  // namespace

bool LooksLikeAppToken(std::string_view token) { return token.substr(0, kPrefix.size()) == kPrefix; }

std::string SignAppToken(const AppTokenClaims& c, std::string_view key_hex) {
  const std::string payload = json{{"v", c.version},   {"id", c.id},          {"tenant", c.tenant},
                                   {"kid", c.key_id},  {"scopes", c.scopes},  {"iat", c.issued_at},
                                   {"exp", c.expires_at}}
                                  .dump();
  const std::string signed_part =
      std::string(kPrefix) + Base64Url(reinterpret_cast<const unsigned char*>(payload.data()), payload.size());
  return signed_part + "." + Mac(signed_part, key_hex);
}

Result<AppTokenClaims> ParseAppToken(std::string_view token) {
  if (!LooksLikeAppToken(token) || token.size() > kMaxAppTokenBytes) return Status::Unauthenticated("invalid token");
  const size_t dot = token.rfind('.');
  if (dot <= kPrefix.size()) return Status::Unauthenticated("invalid token");
  auto payload = FromBase64Url(token.substr(kPrefix.size(), dot - kPrefix.size()));
  if (!payload.ok()) return Status::Unauthenticated("invalid token");
  json j = json::parse(*payload, nullptr, false);
  if (!j.is_object() || !j["v"].is_number_integer() || j["v"] != 1 || !j["id"].is_string() ||
      !j["tenant"].is_string() || !j["kid"].is_string() || !j["scopes"].is_array() ||
      !j["iat"].is_number_integer() || !j["exp"].is_number_integer()) {
    return Status::Unauthenticated("invalid token");
  }
  AppTokenClaims c;
  c.id = j["id"];
  c.tenant = j["tenant"];
  c.key_id = j["kid"];
  for (const auto& s : j["scopes"]) {
    if (!s.is_string()) return Status::Unauthenticated("invalid token");
    c.scopes.push_back(s);
  }
  c.issued_at = j["iat"];
  c.expires_at = j["exp"];
  return c;
}

bool VerifyAppTokenMac(std::string_view token, std::string_view key_hex) {
  const size_t dot = token.rfind('.');
  if (dot == std::string_view::npos || key_hex.size() != 64) return false;
  return ConstantTimeEquals(Mac(token.substr(0, dot), key_hex), token.substr(dot + 1));
}

}  // namespace cloudlet::auth
