// The policy until scoped tokens exist: exactly one operator token may do everything, and nothing
// else is accepted.
//
//   auto policy = BootstrapPolicy::Create(token);   // InvalidArgument when the token is too weak
//   api::Router router(*policy, *policy, ...);
//
// Thread-safe (immutable after construction).
#pragma once

#include <array>
#include <memory>
#include <string>

#include "cloudlet/auth/policy.h"

namespace cloudlet::auth {

class BootstrapPolicy final : public Authenticator, public Authorizer {
 public:
  static common::Result<std::unique_ptr<BootstrapPolicy>> Create(std::string_view operator_token);

  common::Result<Principal> Authenticate(std::string_view bearer_token) const override;
  common::Status Authorize(const Principal& who, const Permission& what) const override;

 private:
  BootstrapPolicy(std::array<unsigned char, 32> digest, std::string subject)
      : digest_(digest), subject_(std::move(subject)) {}
  std::array<unsigned char, 32> digest_;  // SHA-256 of the token; the token itself is not kept
  std::string subject_;
};

}  // namespace cloudlet::auth
