// Tenants, long-lived tokens, tenant signing keys and the audit trail, and the store that keeps them.
//
// Long-lived tokens read "clt_<accessor>_<secret>": the accessor (16 lowercase base32 characters) is
// public and names the token in listings and logs; the secret (256 random bits) is never stored,
// only the SHA-256 of the whole token. App tokens are stateless (app_token.h); what is stored about
// them is for listing and audit only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cloudlet/auth/policy.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"

namespace cloudlet::auth {

inline constexpr size_t kMaxTenantIdLength = 64;
inline constexpr size_t kMaxDescriptionBytes = 256;
inline constexpr size_t kMaxScopes = 16;

// Limits on what a tenant may hold; unset means no limit.
struct TenantQuotas {
  std::optional<int64_t> max_placements;     // live (reserved or active) placements
  std::optional<int64_t> max_cpu_millis;     // CPU those placements take
  std::optional<double> max_monthly_spend;   // cost of this calendar month's usage (UTC), in the price currency

  bool operator==(const TenantQuotas&) const = default;
};

struct Tenant {
  std::string id;    // 1-64 of [a-z0-9-]
  std::string name;  // free text, at most 256 bytes
  common::TimePoint created_at;
  std::optional<common::TimePoint> disabled_at;  // a disabled tenant's tokens all stop working
  std::string key_id;       // the current app-token signing key's id
  std::string signing_key;  // 32 random bytes, hex; rotating it kills every app token signed before
  TenantQuotas quotas = {};
};

struct TokenRecord {
  std::string accessor;
  std::string hash_hex;  // SHA-256 of the whole token
  Role role = Role::kTenant;
  std::string tenant;       // tenant tokens
  std::string cloudlet_id;  // agent tokens
  std::vector<std::string> scopes;  // permission names; empty means all the role allows
  std::string description;
  std::string created_by;
  common::TimePoint created_at;
  std::optional<common::TimePoint> expires_at;
  std::optional<common::TimePoint> revoked_at;
};

// An app token minted by a tenant (its metadata; the token itself is not stored).
struct AppTokenRecord {
  std::string id;
  std::string tenant;
  std::vector<std::string> scopes;
  std::string created_by;
  common::TimePoint created_at;
  common::TimePoint expires_at;
  std::optional<common::TimePoint> revoked_at;
};

struct AuditEntry {
  int64_t seq = 0;
  common::TimePoint at;
  std::string actor;   // the acting token's accessor or subject
  std::string remote;  // the caller's address
  std::string action;  // "tenant.create", "token.revoke", "cloudlet.register", ...
  std::string target;
  std::string detail;
};

// Durable storage. Implementations serialise their own transactions; each call is one transaction.
// What other registries sharing the store changed after a cursor (CredentialStore::ChangesSince).
struct CredentialChanges {
  std::vector<Tenant> tenants;
  std::vector<TokenRecord> tokens;
  std::vector<AppTokenRecord> app_tokens;
  uint64_t cursor = 0;  // pass to the next call
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  virtual common::Result<std::vector<Tenant>> LoadTenants() = 0;
  virtual common::Result<std::vector<TokenRecord>> LoadTokens() = 0;
  virtual common::Result<std::vector<AppTokenRecord>> LoadAppTokens() = 0;
  virtual common::Status PutTenant(const Tenant& t) = 0;
  virtual common::Status PutToken(const TokenRecord& t) = 0;
  virtual common::Status PutAppToken(const AppTokenRecord& t) = 0;
  virtual common::Status AppendAudit(const AuditEntry& e) = 0;
  // Newest first, at most `limit`.
  virtual common::Result<std::vector<AuditEntry>> RecentAudit(size_t limit) = 0;

  // A store shared by several registries (PostgreSQL) also reports what the others wrote, so that
  // a key rotation or revocation through one takes effect in all. The defaults have none to report.
  virtual bool shared() const { return false; }
  // A cursor from before the Load* calls that follow it: changes after it include anything they missed.
  virtual common::Result<uint64_t> ChangeCursor() { return uint64_t{0}; }
  // Records others wrote after `cursor` (this store's own writes are left out).
  virtual common::Result<CredentialChanges> ChangesSince(uint64_t cursor) {
    return CredentialChanges{{}, {}, {}, cursor};
  }
  // Waits up to `limit`, returning early when another registry may have written.
  virtual void WaitForChanges(common::Millis limit) { (void)limit; }
};

common::Status ValidateTenantId(std::string_view id);
// Permission names a token may be scoped to: "cloudlet.read", "cloudlet.write", "placement.read",
// "placement.write", "rtt.write", "token.manage".
common::Status ValidateScopes(const std::vector<std::string>& scopes, Role role);

}  // namespace cloudlet::auth
