// Secrets: generation, hashing, constant-time comparison and token files.
//
//   std::string token = GenerateToken("clo");             // "clo_" + 43 base64url characters
//   auto stored = LoadOrCreateTokenFile("var/operator.token");   // mode 0600
//
// Thread-safe.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::auth {

inline constexpr size_t kMinTokenLength = 16;
inline constexpr size_t kMaxTokenLength = 512;

// A random 256-bit secret from the OS's CSPRNG, base64url without padding, after "<prefix>_".
std::string GenerateToken(std::string_view prefix);

std::array<unsigned char, 32> Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
// base64url without padding (RFC 4648 §5).
std::string Base64Url(const unsigned char* data, size_t size);
common::Result<std::string> FromBase64Url(std::string_view text);
// `bytes` random bytes from the OS's CSPRNG, as lowercase hex.
std::string RandomHex(size_t bytes);
// `chars` random characters of [a-z2-7].
std::string RandomBase32(size_t chars);
// Compares in time that depends only on the lengths, never on where the bytes differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Rejects tokens that are too short or long or contain anything but printable ASCII; names `what`.
common::Status ValidateTokenText(std::string_view token, std::string_view what);

struct TokenFile {
  std::string token;
  bool created = false;  // true when this call generated it
};

// Reads the token in `path` (trailing whitespace ignored), or creates the file with a new token,
// mode 0600, without ever exposing a partly written file. Errors name the file.
common::Result<TokenFile> LoadOrCreateTokenFile(const std::string& path, std::string_view prefix);

}  // namespace cloudlet::auth
