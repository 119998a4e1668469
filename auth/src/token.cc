#include "cloudlet/auth/token.h"

#include "cloudlet/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace cloudlet::auth {

using common::Status;

std::string Base64Url(const unsigned char* data, size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

common::Result<std::string> FromBase64Url(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return Status::InvalidArgument("not base64url");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

namespace {
void RandomBytes(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    // Without a working CSPRNG no secret can be made safely, and no caller could go on without one:
    // stop the process rather than hand out a guessable token.
    std::fputs("fatal: the system's random number generator failed; no secret can be made safely\n", stderr);
    std::abort();
  }
}
}  // namespace

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  RandomBytes(raw.data(), raw.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

std::string RandomBase32(size_t chars) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::vector<unsigned char> raw(chars);
  RandomBytes(raw.data(), raw.size());
  std::string out;
  for (unsigned char b : raw) out.push_back(kAlphabet[b & 31]);
  return out;
}

std::string Sha256Hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : Sha256(data)) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string GenerateToken(std::string_view prefix) {
  unsigned char secret[32];
  RandomBytes(secret, sizeof secret);
  std::string token = std::string(prefix) + "_" + Base64Url(secret, sizeof secret);
  OPENSSL_cleanse(secret, sizeof secret);
  return token;
}

std::array<unsigned char, 32> Sha256(std::string_view data) {
  // Fetched once: SHA256() looks the algorithm up on every call, which showed in request profiles.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<unsigned char, 32> out{};
  if (!md || EVP_Digest(data.data(), data.size(), out.data(), nullptr, md, nullptr) != 1) {
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status ValidateTokenText(std::string_view token, std::string_view what) {
  if (token.size() < kMinTokenLength || token.size() > kMaxTokenLength) {
    return Status::InvalidField(std::string(what), "a token must be 16 to 512 characters long");
  }
  for (unsigned char c : token) {
    if (c <= 0x20 || c >= 0x7f) return Status::InvalidField(std::string(what), "a token must be printable ASCII without spaces");
  }
  return Status::Ok();
}

common::Result<TokenFile> LoadOrCreateTokenFile(const std::string& path, std::string_view prefix) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path);
    if (!in) return Status::Unavailable(path + ": cannot read token file: " + std::strerror(errno));
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string token = buffer.str().substr(0, kMaxTokenLength + 2);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    CLOUDLET_RETURN_IF_ERROR(ValidateTokenText(token, path));
    return TokenFile{std::move(token), false};
  }
  TokenFile out{GenerateToken(prefix), true};
  // Mode 0600 and an atomic rename: a crash never leaves a half-written token, and the secret is
  // never readable by others.
  CLOUDLET_RETURN_IF_ERROR(common::WriteFileAtomically(path, out.token + "\n", 0600));
  return out;
}

}  // namespace cloudlet::auth
