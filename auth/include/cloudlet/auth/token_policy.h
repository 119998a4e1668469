// The real policy: operators, tenants, agents bound to one cloudlet, and apps holding short-lived
// signed tokens; default deny.
//
//   auto policy = TokenPolicy::Create(bootstrap_token, store, clock);   // loads tenants and tokens
//   api::Router router(**policy, **policy, metrics);
//   auto t = (*policy)->CreateToken(caller, {.role = Role::kAgent, .cloudlet_id = "cl-a"});
//   // t->token is shown once; only its SHA-256 is kept.
//
// Authentication reads memory only (tokens, tenants and signing keys are cached and kept in step
// with the store by the administration calls). Administration calls write the store before they
// answer and must not run on an HTTP handler thread. On a store shared with other registries
// (CredentialStore::shared()) a follower thread applies what they write (a new tenant key, a
// revoked token, a disabled tenant) within about a second. Thread-safe.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cloudlet/auth/app_token.h"
#include "cloudlet/auth/credentials.h"
#include "cloudlet/auth/policy.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/follow_thread.h"

namespace cloudlet::auth {

// Who asks for an administrative change, for the audit trail.
struct Caller {
  Principal principal;
  std::string remote;
};

struct TokenRequest {
  Role role = Role::kApp;
  std::string tenant = {};
  std::string cloudlet_id = {};
  std::vector<std::string> scopes = {};
  std::optional<common::Millis> ttl = {};  // none: no expiry (long-lived tokens only)
  std::string description = {};
};

struct IssuedToken {
  std::string token;  // shown once
  std::string id;     // accessor (long-lived) or app token id
  Role role = Role::kApp;
  std::string tenant;
  std::optional<common::TimePoint> expires_at;
};

class TokenPolicy final : public Authenticator, public Authorizer {
 public:
  static common::Result<std::unique_ptr<TokenPolicy>> Create(std::string_view bootstrap_token, CredentialStore& store,
                                                             const common::Clock& clock,
                                                             common::Millis follow_interval = common::Millis(500));
  ~TokenPolicy() override;

  common::Result<Principal> Authenticate(std::string_view bearer_token) const override;
  common::Status Authorize(const Principal& who, const Permission& what) const override;

  common::Result<Tenant> CreateTenant(const Caller& caller, const std::string& id, const std::string& name);
  std::vector<Tenant> ListTenants() const;
  bool HasTenant(const std::string& id) const;
  // NotFound for an unknown tenant.
  common::Result<Tenant> SetQuotas(const Caller& caller, const std::string& id, const TenantQuotas& quotas);
  // Quotas of `id`; none for an unknown tenant (operators own no quota).
  std::optional<TenantQuotas> QuotasOf(const std::string& id) const;
  // Disabling kills every token of the tenant and every app token it minted, at once.
  common::Result<Tenant> DisableTenant(const Caller& caller, const std::string& id);
  // A new signing key: every app token signed with the old one stops working.
  common::Result<Tenant> RotateSigningKey(const Caller& caller, const std::string& id);

  // Operators issue any token; a tenant only app tokens for itself (role and tenant are forced).
  common::Result<IssuedToken> Issue(const Caller& caller, TokenRequest request);
  // Long-lived tokens (operators) and app tokens (operators: all; a tenant: its own).
  std::vector<TokenRecord> ListTokens(const Caller& caller) const;
  std::vector<AppTokenRecord> ListAppTokens(const Caller& caller) const;
  // By accessor or app token id. NotFound (never PermissionDenied) for what the caller may not see.
  common::Status Revoke(const Caller& caller, const std::string& id);

  // Records an administrative act (also logged). Failures to write are logged, not returned.
  void Audit(const Caller& caller, const std::string& action, const std::string& target, const std::string& detail);
  common::Result<std::vector<AuditEntry>> RecentAudit(size_t limit) const;

 private:
  TokenPolicy(std::array<unsigned char, 32> bootstrap_digest, std::string bootstrap_subject, CredentialStore& store,
              const common::Clock& clock)
      : bootstrap_digest_(bootstrap_digest), bootstrap_subject_(std::move(bootstrap_subject)), store_(store),
        clock_(clock) {}
  common::Status Load();
  // Applies records another registry wrote (the store's change feed).
  void Follow(const CredentialChanges& changes);
  common::Result<Principal> AuthenticateLongLived(std::string_view token) const;
  common::Result<Principal> AuthenticateApp(std::string_view token) const;
  bool TenantActive(const std::string& id) const;  // with mu_ held
  // Applies `change` to a copy of the tenant, stores it, then shows it. With admin_mu_ held.
  common::Result<Tenant> UpdateTenant(const std::string& id, const std::function<void(Tenant&)>& change);

  std::array<unsigned char, 32> bootstrap_digest_;
  std::string bootstrap_subject_;
  CredentialStore& store_;
  const common::Clock& clock_;

  mutable std::shared_mutex mu_;
  std::map<std::string, Tenant> tenants_;
  std::map<std::string, TokenRecord> tokens_;          // by accessor
  std::map<std::string, AppTokenRecord> app_tokens_;   // by id
  std::set<std::string> revoked_app_tokens_;
  std::mutex admin_mu_;  // one administrative change at a time
  uint64_t cursor_ = 0;  // the change feed's, as of what is applied (the follower thread's)
  std::unique_ptr<common::FollowThread> follow_;  // last: stopped before the rest goes
};

}  // namespace cloudlet::auth
