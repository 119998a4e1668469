#include "cloudlet/auth/token_policy.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "cloudlet/auth/token.h"
#include "cloudlet/common/time_format.h"

namespace cloudlet::auth {
namespace {

using common::Result;
using common::Status;

constexpr std::string_view kLongLivedPrefix = "clt_";
constexpr size_t kAccessorChars = 16;

int64_t UnixSeconds(common::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// What each role may do at most; scopes narrow it further.
bool RoleAllows(const Principal& who, const Permission& what) {
  using K = Permission::Kind;
  switch (who.role) {
    case Role::kOperator:
      return true;
    case Role::kTenant:
      return what.kind == K::kCloudletRead || what.kind == K::kPlacementRead || what.kind == K::kPlacementWrite ||
             what.kind == K::kRttWrite || what.kind == K::kTokenManage || what.kind == K::kReportRead;
    case Role::kAgent:
      return what.kind == K::kCloudletRead || what.kind == K::kRttWrite || what.kind == K::kUsageWrite ||
             what.kind == K::kPlacementReport || (what.kind == K::kCloudletWrite && what.resource == who.cloudlet_id);
    case Role::kApp:
      return what.kind == K::kCloudletRead || what.kind == K::kPlacementRead || what.kind == K::kPlacementWrite ||
             what.kind == K::kRttWrite;
  }
  return false;
}

std::string Fingerprint(const std::array<unsigned char, 32>& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "bootstrap:";
  for (int i = 0; i < 4; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace

Status ValidateTenantId(std::string_view id) {
  if (id.empty() || id.size() > kMaxTenantIdLength) return Status::InvalidField("id", "must be 1-64 characters");
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return Status::InvalidField("id", "may hold only a-z, 0-9 and '-'");
    }
  }
  return Status::Ok();
}

Status ValidateScopes(const std::vector<std::string>& scopes, Role role) {
  static const std::set<std::string> kKnown = {"cloudlet.read",   "cloudlet.write", "placement.read",
                                               "placement.write", "rtt.write",      "token.manage",
                                               "usage.write",     "report.read",   "placement.report"};
  if (scopes.size() > kMaxScopes) return Status::InvalidField("scopes", "at most 16");
  for (const auto& s : scopes) {
    if (!kKnown.count(s)) return Status::InvalidField("scopes", "unknown scope '" + s.substr(0, 32) + "'");
    Principal probe{"", role, "t", "c"};
    Permission p{Permission::Kind::kCloudletRead, "c"};
    for (auto kind : {Permission::Kind::kCloudletRead, Permission::Kind::kCloudletWrite, Permission::Kind::kPlacementRead,
                      Permission::Kind::kPlacementWrite, Permission::Kind::kRttWrite, Permission::Kind::kTokenManage,
                      Permission::Kind::kUsageWrite, Permission::Kind::kReportRead,
                      Permission::Kind::kPlacementReport}) {
      p.kind = kind;
      if (s == p.ScopeName() && !RoleAllows(probe, p)) {
        return Status::InvalidField("scopes", "this role's tokens cannot have '" + s + "'");
      }
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<TokenPolicy>> TokenPolicy::Create(std::string_view bootstrap_token, CredentialStore& store,
                                                         const common::Clock& clock, common::Millis follow_interval) {
  CLOUDLET_RETURN_IF_ERROR(ValidateTokenText(bootstrap_token, "bootstrap token"));
  const auto digest = Sha256(bootstrap_token);
  std::unique_ptr<TokenPolicy> policy(new TokenPolicy(digest, Fingerprint(digest), store, clock));
  CLOUDLET_RETURN_IF_ERROR(policy->Load());
  if (store.shared()) {
    TokenPolicy* p = policy.get();
    policy->follow_ = std::make_unique<common::FollowThread>(
        [p, log = std::make_shared<common::OutageLog>("auth: reading other registries' credential changes")] {
          auto changes = p->store_.ChangesSince(p->cursor_);
          if (!changes.ok()) return log->Failed(changes.status().message());
          log->Succeeded();
          p->Follow(*changes);
          p->cursor_ = changes->cursor;
        },
        [p](common::Millis limit) { p->store_.WaitForChanges(limit); }, follow_interval);
  }
  return policy;
}

TokenPolicy::~TokenPolicy() {
  if (follow_) follow_->Stop();
}

void TokenPolicy::Follow(const CredentialChanges& changes) {
  if (changes.tenants.empty() && changes.tokens.empty() && changes.app_tokens.empty()) return;
  std::unique_lock lock(mu_);
  for (const auto& t : changes.tenants) tenants_[t.id] = t;
  for (const auto& t : changes.tokens) tokens_[t.accessor] = t;
  for (const auto& a : changes.app_tokens) {
    if (a.revoked_at) revoked_app_tokens_.insert(a.id);
    app_tokens_[a.id] = a;
  }
  spdlog::info("auth: applied {} tenant(s), {} token(s) and {} app token(s) changed by other registries",
               changes.tenants.size(), changes.tokens.size(), changes.app_tokens.size());
}

Status TokenPolicy::Load() {
  // Taken first: whatever changes during the loads below is read again from the feed.
  auto cursor = store_.ChangeCursor();
  if (!cursor.ok()) return cursor.status();
  cursor_ = *cursor;
  auto tenants = store_.LoadTenants();
  if (!tenants.ok()) return tenants.status();
  auto tokens = store_.LoadTokens();
  if (!tokens.ok()) return tokens.status();
  auto apps = store_.LoadAppTokens();
  if (!apps.ok()) return apps.status();
  std::unique_lock lock(mu_);
  for (auto& t : *tenants) tenants_[t.id] = std::move(t);
  for (auto& t : *tokens) tokens_[t.accessor] = std::move(t);
  for (auto& a : *apps) {
    if (a.revoked_at) revoked_app_tokens_.insert(a.id);
    app_tokens_[a.id] = std::move(a);
  }
  spdlog::info("auth: {} tenant(s), {} token(s) loaded", tenants_.size(), tokens_.size());
  return Status::Ok();
}

bool TokenPolicy::TenantActive(const std::string& id) const {
  auto it = tenants_.find(id);
  return it != tenants_.end() && !it->second.disabled_at;
}

Result<Principal> TokenPolicy::Authenticate(std::string_view bearer_token) const {
  if (bearer_token.empty()) return Status::Unauthenticated("missing bearer token");
  if (bearer_token.size() > kMaxTokenLength && !LooksLikeAppToken(bearer_token)) {
    return Status::Unauthenticated("invalid token");
  }
  if (bearer_token.substr(0, kLongLivedPrefix.size()) == kLongLivedPrefix) return AuthenticateLongLived(bearer_token);
  if (LooksLikeAppToken(bearer_token)) return AuthenticateApp(bearer_token);
  // Anything else can only be the bootstrap token: compare digests in constant time.
  const auto presented = Sha256(bearer_token);
  const std::string_view a(reinterpret_cast<const char*>(presented.data()), presented.size());
  const std::string_view b(reinterpret_cast<const char*>(bootstrap_digest_.data()), bootstrap_digest_.size());
  if (!ConstantTimeEquals(a, b)) return Status::Unauthenticated("invalid token");
  return Principal{bootstrap_subject_, Role::kOperator, {}, {}};
}

Result<Principal> TokenPolicy::AuthenticateLongLived(std::string_view token) const {
  // clt_<accessor>_<secret>
  const std::string_view rest = token.substr(kLongLivedPrefix.size());
  if (rest.size() <= kAccessorChars + 1 || rest[kAccessorChars] != '_') return Status::Unauthenticated("invalid token");
  const std::string accessor(rest.substr(0, kAccessorChars));
  const std::string presented = Sha256Hex(token);
  std::shared_lock lock(mu_);
  auto it = tokens_.find(accessor);
  // An unknown accessor still costs a comparison, so timing says little about which exist.
  static const std::string kNothing(64, '0');
  const bool match = ConstantTimeEquals(presented, it == tokens_.end() ? kNothing : it->second.hash_hex);
  if (it == tokens_.end() || !match) return Status::Unauthenticated("invalid token");
  const TokenRecord& t = it->second;
  if (t.revoked_at) return Status::Unauthenticated("token revoked");
  if (t.expires_at && clock_.Now() >= *t.expires_at) return Status::Unauthenticated("token expired");
  if (!t.tenant.empty() && !TenantActive(t.tenant)) return Status::Unauthenticated("tenant disabled");
  Principal p{t.accessor, t.role, t.tenant, t.cloudlet_id};
  p.scopes = t.scopes;
  return p;
}

Result<Principal> TokenPolicy::AuthenticateApp(std::string_view token) const {
  auto claims = ParseAppToken(token);
  if (!claims.ok()) return claims.status();
  std::shared_lock lock(mu_);
  auto tenant = tenants_.find(claims->tenant);
  if (tenant == tenants_.end() || tenant->second.key_id != claims->key_id ||
      !VerifyAppTokenMac(token, tenant->second.signing_key)) {
    return Status::Unauthenticated("invalid token");
  }
  if (tenant->second.disabled_at) return Status::Unauthenticated("tenant disabled");
  const int64_t now = UnixSeconds(clock_.Now());
  if (now >= claims->expires_at) return Status::Unauthenticated("token expired");
  if (claims->expires_at - claims->issued_at > std::chrono::seconds(kMaxAppTokenLifetime).count()) {
    return Status::Unauthenticated("invalid token");
  }
  if (revoked_app_tokens_.count(claims->id)) return Status::Unauthenticated("token revoked");
  Principal p{"app:" + claims->id, Role::kApp, claims->tenant, {}};
  p.scopes = claims->scopes;
  return p;
}

Status TokenPolicy::Authorize(const Principal& who, const Permission& what) const {
  const bool scoped_out = !who.scopes.empty() &&
                          std::find(who.scopes.begin(), who.scopes.end(), what.ScopeName()) == who.scopes.end();
  if (RoleAllows(who, what) && !scoped_out) return Status::Ok();
  const std::string role = RoleName(who.role);
  return Status::PermissionDenied((role == "app" || role == "agent" ? "an " : "a ") + role + " token may not " +
                                  what.ToString());
}

void TokenPolicy::Audit(const Caller& caller, const std::string& action, const std::string& target,
                        const std::string& detail) {
  AuditEntry e{0, clock_.Now(), caller.principal.subject, caller.remote, action, target, detail};
  spdlog::info("audit: {} by {} from {}: {} {}", action, e.actor, e.remote, target, detail);
  if (auto s = store_.AppendAudit(e); !s.ok()) spdlog::error("audit: cannot record {}: {}", action, s.ToString());
}

Result<std::vector<AuditEntry>> TokenPolicy::RecentAudit(size_t limit) const { return store_.RecentAudit(limit); }

Result<Tenant> TokenPolicy::SetQuotas(const Caller& caller, const std::string& id, const TenantQuotas& quotas) {
  if ((quotas.max_placements && *quotas.max_placements < 0) || (quotas.max_cpu_millis && *quotas.max_cpu_millis < 0) ||
      (quotas.max_monthly_spend && !(*quotas.max_monthly_spend >= 0))) {
    return Status::InvalidField("quotas", "limits must not be negative");
  }
  std::lock_guard admin(admin_mu_);
  auto t = UpdateTenant(id, [&quotas](Tenant& t) { t.quotas = quotas; });
  if (!t.ok()) return t;
  auto show = [](const auto& v) { return v ? std::to_string(*v) : std::string("none"); };
  Audit(caller, "tenant.quotas", id,
        "placements=" + show(quotas.max_placements) + " cpu_millis=" + show(quotas.max_cpu_millis) +
            " monthly_spend=" + show(quotas.max_monthly_spend));
  return t;
}

std::optional<TenantQuotas> TokenPolicy::QuotasOf(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = tenants_.find(id);
  if (it == tenants_.end()) return std::nullopt;
  return it->second.quotas;
}

bool TokenPolicy::HasTenant(const std::string& id) const {
  std::shared_lock lock(mu_);
  return tenants_.count(id) > 0;
}

Result<Tenant> TokenPolicy::CreateTenant(const Caller& caller, const std::string& id, const std::string& name) {
  CLOUDLET_RETURN_IF_ERROR(ValidateTenantId(id));
  if (name.size() > kMaxDescriptionBytes) return Status::InvalidField("name", "at most 256 bytes");
  std::lock_guard admin(admin_mu_);
  {
    std::shared_lock lock(mu_);
    if (tenants_.count(id)) return Status::AlreadyExists("tenant '" + id + "' exists");
  }
  Tenant t{id, name.empty() ? id : name, clock_.Now(), std::nullopt, RandomHex(8), RandomHex(32)};
  CLOUDLET_RETURN_IF_ERROR(store_.PutTenant(t));
  {
    std::unique_lock lock(mu_);
    tenants_[id] = t;
  }
  Audit(caller, "tenant.create", id, t.name);
  return t;
}

std::vector<Tenant> TokenPolicy::ListTenants() const {
  std::shared_lock lock(mu_);
  std::vector<Tenant> out;
  for (const auto& [id, t] : tenants_) out.push_back(t);
  return out;
}

Result<Tenant> TokenPolicy::UpdateTenant(const std::string& id, const std::function<void(Tenant&)>& change) {
  Tenant t;
  {
    std::shared_lock lock(mu_);
    auto it = tenants_.find(id);
    if (it == tenants_.end()) return Status::NotFound("no tenant '" + id.substr(0, 64) + "'");
    t = it->second;
  }
  change(t);
  CLOUDLET_RETURN_IF_ERROR(store_.PutTenant(t));
  std::unique_lock lock(mu_);
  tenants_[id] = t;
  return t;
}

Result<Tenant> TokenPolicy::DisableTenant(const Caller& caller, const std::string& id) {
  std::lock_guard admin(admin_mu_);
  auto t = UpdateTenant(id, [this](Tenant& t) {
    if (!t.disabled_at) t.disabled_at = clock_.Now();
  });
  if (t.ok()) Audit(caller, "tenant.disable", id, "");
  return t;
}

Result<Tenant> TokenPolicy::RotateSigningKey(const Caller& caller, const std::string& id) {
  std::lock_guard admin(admin_mu_);
  auto t = UpdateTenant(id, [](Tenant& t) {
    t.key_id = RandomHex(8);
    t.signing_key = RandomHex(32);
  });
  if (t.ok()) Audit(caller, "tenant.rotate-key", id, "new key " + t->key_id);
  return t;
}

Result<IssuedToken> TokenPolicy::Issue(const Caller& caller, TokenRequest r) {
  const Principal& who = caller.principal;
  if (who.role == Role::kTenant) {
    // A tenant mints app tokens for itself and nothing else.
    if (r.role != Role::kApp) return Status::PermissionDenied("a tenant may only create app tokens");
    r.tenant = who.tenant;
  } else if (who.role != Role::kOperator) {
    return Status::PermissionDenied("only operators and tenants create tokens");
  }
  if (r.description.size() > kMaxDescriptionBytes) return Status::InvalidField("description", "at most 256 bytes");
  CLOUDLET_RETURN_IF_ERROR(ValidateScopes(r.scopes, r.role));
  if (r.ttl && r.ttl->count() <= 0) return Status::InvalidField("ttl", "must be longer than 0");
  if ((r.role == Role::kTenant || r.role == Role::kApp)) {
    CLOUDLET_RETURN_IF_ERROR(ValidateTenantId(r.tenant).ok() ? Status::Ok()
                                                             : Status::InvalidField("tenant", "is required: a tenant id"));
  } else if (!r.tenant.empty()) {
    return Status::InvalidField("tenant", "only tenant and app tokens belong to a tenant");
  }
  if (r.role == Role::kAgent) {
    if (r.cloudlet_id.empty()) return Status::InvalidField("cloudlet", "is required for an agent token");
  } else if (!r.cloudlet_id.empty()) {
    return Status::InvalidField("cloudlet", "only agent tokens are bound to a cloudlet");
  }

  std::lock_guard admin(admin_mu_);
  Tenant tenant;
  if (!r.tenant.empty()) {
    std::shared_lock lock(mu_);
    auto it = tenants_.find(r.tenant);
    if (it == tenants_.end() || it->second.disabled_at) {
      return Status::InvalidField("tenant", "no active tenant '" + r.tenant.substr(0, 64) + "'");
    }
    tenant = it->second;
  }
  const common::TimePoint now = clock_.Now();
  IssuedToken out;
  out.role = r.role;
  out.tenant = r.tenant;
  if (r.role == Role::kApp) {
    const common::Millis ttl = std::min<common::Millis>(r.ttl.value_or(std::chrono::hours(1)), kMaxAppTokenLifetime);
    if (r.ttl && *r.ttl > kMaxAppTokenLifetime) return Status::InvalidField("ttl", "app tokens live at most 24h");
    AppTokenClaims c;
    c.id = "app-" + RandomBase32(16);
    c.tenant = r.tenant;
    c.key_id = tenant.key_id;
    c.scopes = r.scopes;
    c.issued_at = UnixSeconds(now);
    c.expires_at = UnixSeconds(now + ttl);
    AppTokenRecord rec{c.id, c.tenant, c.scopes, who.subject, now, now + ttl, std::nullopt};
    CLOUDLET_RETURN_IF_ERROR(store_.PutAppToken(rec));
    {
      std::unique_lock lock(mu_);
      app_tokens_[rec.id] = rec;
    }
    out.token = SignAppToken(c, tenant.signing_key);
    out.id = c.id;
    out.expires_at = rec.expires_at;
  } else {
    TokenRecord rec;
    rec.accessor = RandomBase32(kAccessorChars);
    out.token = std::string(kLongLivedPrefix) + rec.accessor + "_" + GenerateToken("s").substr(2);
    rec.hash_hex = Sha256Hex(out.token);
    rec.role = r.role;
    rec.tenant = r.tenant;
    rec.cloudlet_id = r.cloudlet_id;
    rec.scopes = r.scopes;
    rec.description = r.description;
    rec.created_by = who.subject;
    rec.created_at = now;
    if (r.ttl) rec.expires_at = now + *r.ttl;
    CLOUDLET_RETURN_IF_ERROR(store_.PutToken(rec));
    {
      std::unique_lock lock(mu_);
      tokens_[rec.accessor] = rec;
    }
    out.id = rec.accessor;
    out.expires_at = rec.expires_at;
  }
  Audit(caller, "token.create", out.id,
        std::string(RoleName(r.role)) + (r.tenant.empty() ? "" : " tenant=" + r.tenant) +
            (r.cloudlet_id.empty() ? "" : " cloudlet=" + r.cloudlet_id));
  return out;
}

std::vector<TokenRecord> TokenPolicy::ListTokens(const Caller& caller) const {
  std::vector<TokenRecord> out;
  if (caller.principal.role != Role::kOperator) return out;
  std::shared_lock lock(mu_);
  for (const auto& [id, t] : tokens_) out.push_back(t);
  return out;
}

std::vector<AppTokenRecord> TokenPolicy::ListAppTokens(const Caller& caller) const {
  std::vector<AppTokenRecord> out;
  const bool all = caller.principal.role == Role::kOperator;
  std::shared_lock lock(mu_);
  for (const auto& [id, t] : app_tokens_) {
    if (all || (caller.principal.role == Role::kTenant && t.tenant == caller.principal.tenant)) out.push_back(t);
  }
  return out;
}

Status TokenPolicy::Revoke(const Caller& caller, const std::string& id) {
  const Principal& who = caller.principal;
  const Status not_found = Status::NotFound("no token '" + id.substr(0, 64) + "'");
  std::lock_guard admin(admin_mu_);
  std::optional<TokenRecord> token;
  std::optional<AppTokenRecord> app;
  {
    std::shared_lock lock(mu_);
    if (auto it = tokens_.find(id); it != tokens_.end() && who.role == Role::kOperator) token = it->second;
    if (auto it = app_tokens_.find(id);
        it != app_tokens_.end() && (who.role == Role::kOperator || (who.role == Role::kTenant && it->second.tenant == who.tenant))) {
      app = it->second;
    }
  }
  if (!token && !app) return not_found;
  const common::TimePoint now = clock_.Now();
  if (token) {
    if (!token->revoked_at) token->revoked_at = now;
    CLOUDLET_RETURN_IF_ERROR(store_.PutToken(*token));
    std::unique_lock lock(mu_);
    tokens_[id] = *token;
  } else {
    if (!app->revoked_at) app->revoked_at = now;
    CLOUDLET_RETURN_IF_ERROR(store_.PutAppToken(*app));
    std::unique_lock lock(mu_);
    app_tokens_[id] = *app;
    revoked_app_tokens_.insert(id);
  }
  Audit(caller, "token.revoke", id, "");
  return Status::Ok();
}

}  // namespace cloudlet::auth
