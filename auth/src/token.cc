#include "cloudlet/auth/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace cloudlet::auth {

using common::Status;

namespace {

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

}  // namespace

std::string GenerateToken(std::string_view prefix) {
  unsigned char secret[32];
  if (RAND_bytes(secret, sizeof secret) != 1) {
    // Without a working CSPRNG no secret can be made safely; this is not recoverable.
    throw std::runtime_error("the system's random number generator failed");
  }
  std::string token = std::string(prefix) + "_" + Base64Url(secret, sizeof secret);
  OPENSSL_cleanse(secret, sizeof secret);
  return token;
}

std::array<unsigned char, 32> Sha256(std::string_view data) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
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
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) return Status::Unavailable(parent.string() + ": cannot create directory: " + ec.message());
  }
  TokenFile out{GenerateToken(prefix), true};
  // Write a temporary file with mode 0600 and rename it into place, so that a crash never leaves a
  // half-written token and the secret is never readable by others.
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable(tmp + ": cannot create token file: " + std::strerror(errno));
  const std::string content = out.token + "\n";
  const bool written = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::Unavailable(path + ": cannot write token file: " + std::strerror(errno));
  }
  return out;
}

}  // namespace cloudlet::auth
