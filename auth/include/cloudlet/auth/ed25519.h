// Ed25519 keys for signing adverts (OpenSSL underneath). Keys and signatures travel as base64url
// without padding: a public key is 43 characters, a signature 86.
//
//   auto key = LoadOrCreateSigningKey("var/agent/advert.key");   // PEM, mode 0600
//   std::string sig = key->Sign("message");
//   bool ok = VerifyEd25519(key->public_key(), "message", sig);
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::auth {

class SigningKey {
 public:
  virtual ~SigningKey() = default;
  virtual const std::string& public_key() const = 0;
  virtual std::string Sign(std::string_view message) const = 0;
};

// Reads the private key in `path`, or makes one and writes it (0600) first.
common::Result<std::unique_ptr<SigningKey>> LoadOrCreateSigningKey(const std::string& path);

// False for anything malformed, never an exception.
bool VerifyEd25519(std::string_view public_key, std::string_view message, std::string_view signature);

bool IsEd25519PublicKey(std::string_view public_key);

}  // namespace cloudlet::auth
