#include "cloudlet/auth/token_policy.h"

#include <gtest/gtest.h>

#include "cloudlet/auth/token.h"

namespace cloudlet::auth {
namespace {

using namespace std::chrono_literals;

constexpr char kBootstrap[] = "bootstrap-operator-token-0123456789";

// The credential store seam, in memory; counts reads so tests can show what needs none.
class MemoryCredentialStore final : public CredentialStore {
 public:
  common::Result<std::vector<Tenant>> LoadTenants() override { ++reads; return Values(tenants); }
  common::Result<std::vector<TokenRecord>> LoadTokens() override { ++reads; return Values(tokens); }
  common::Result<std::vector<AppTokenRecord>> LoadAppTokens() override { ++reads; return Values(apps); }
  common::Status PutTenant(const Tenant& t) override { return Fail() ? Broken() : (tenants[t.id] = t, common::Status::Ok()); }
  common::Status PutToken(const TokenRecord& t) override { return Fail() ? Broken() : (tokens[t.accessor] = t, common::Status::Ok()); }
  common::Status PutAppToken(const AppTokenRecord& t) override { return Fail() ? Broken() : (apps[t.id] = t, common::Status::Ok()); }
  common::Status AppendAudit(const AuditEntry& e) override { audit.push_back(e); return common::Status::Ok(); }
  common::Result<std::vector<AuditEntry>> RecentAudit(size_t) override { return audit; }

  std::map<std::string, Tenant> tenants;
  std::map<std::string, TokenRecord> tokens;
  std::map<std::string, AppTokenRecord> apps;
  std::vector<AuditEntry> audit;
  int reads = 0;
  bool fail_writes = false;

 private:
  template <typename T>
  static std::vector<T> Values(const std::map<std::string, T>& m) {
    std::vector<T> out;
    for (const auto& [k, v] : m) out.push_back(v);
    return out;
  }
  bool Fail() const { return fail_writes; }
  static common::Status Broken() { return common::Status::Unavailable("disk full"); }
};

class TokenPolicyTest : public ::testing::Test {
 protected:
  TokenPolicyTest() : clock_(common::FromUnixMillis(1'800'000'000'000)) {
    policy_ = std::move(*TokenPolicy::Create(kBootstrap, store_, clock_));
    op_ = {*policy_->Authenticate(kBootstrap), "127.0.0.1"};
    EXPECT_TRUE(policy_->CreateTenant(op_, "acme", "Acme").ok());
    EXPECT_TRUE(policy_->CreateTenant(op_, "globex", "Globex").ok());
  }

  std::string Issue(TokenRequest r, const Caller* caller = nullptr) {
    auto t = policy_->Issue(caller ? *caller : op_, std::move(r));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? t->token : "";
  }
  Caller As(const std::string& token) { return {*policy_->Authenticate(token), "10.0.0.9"}; }

  MemoryCredentialStore store_;
  common::ManualClock clock_;
  std::unique_ptr<TokenPolicy> policy_;
  Caller op_;
};

TEST_F(TokenPolicyTest, LongLivedTokensAreStoredOnlyAsAHashAndNamedByTheirAccessor) {
  const std::string token = Issue({.role = Role::kTenant, .tenant = "acme", .description = "backend"});
  ASSERT_EQ(token.substr(0, 4), "clt_");
  ASSERT_EQ(store_.tokens.size(), 1u);
  const TokenRecord& stored = store_.tokens.begin()->second;
  EXPECT_EQ(stored.hash_hex, Sha256Hex(token));
  EXPECT_EQ(token.find(stored.accessor), 4u);
  const std::string secret = token.substr(4 + stored.accessor.size() + 1);
  EXPECT_GE(secret.size(), 43u);
  for (const auto& [k, t] : store_.tokens) {
    EXPECT_EQ(t.hash_hex.find(secret), std::string::npos);
    EXPECT_EQ(t.description.find(secret), std::string::npos);
  }
  auto p = policy_->Authenticate(token);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->role, Role::kTenant);
  EXPECT_EQ(p->tenant, "acme");
  EXPECT_EQ(p->subject, stored.accessor);
}

TEST_F(TokenPolicyTest, AWrongSecretUnderAKnownAccessorIsRejected) {
  std::string token = Issue({.role = Role::kTenant, .tenant = "acme"});
  token.back() = token.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(policy_->Authenticate(token).status().code(), common::StatusCode::kUnauthenticated);
  EXPECT_FALSE(policy_->Authenticate("clt_aaaaaaaaaaaaaaaa_whatever-secret").ok());
  EXPECT_FALSE(policy_->Authenticate("clt_").ok());
  EXPECT_FALSE(policy_->Authenticate("").ok());
}

TEST_F(TokenPolicyTest, RevocationAndExpiryTakeEffectAtOnce) {
  const std::string revoked = Issue({.role = Role::kTenant, .tenant = "acme"});
  const std::string expiring = Issue({.role = Role::kTenant, .tenant = "acme", .ttl = 1h});
  ASSERT_TRUE(policy_->Authenticate(revoked).ok());
  ASSERT_TRUE(policy_->Revoke(op_, policy_->Authenticate(revoked)->subject).ok());
  EXPECT_FALSE(policy_->Authenticate(revoked).ok());
  EXPECT_TRUE(policy_->Authenticate(expiring).ok());
  clock_.Advance(1h);
  EXPECT_FALSE(policy_->Authenticate(expiring).ok());
}

TEST_F(TokenPolicyTest, RolesAllowWhatTheyShouldAndNothingElse) {
  const Principal agent = *policy_->Authenticate(Issue({.role = Role::kAgent, .cloudlet_id = "cl-a"}));
  EXPECT_TRUE(policy_->Authorize(agent, Permission::CloudletWrite("cl-a")).ok());
  EXPECT_EQ(policy_->Authorize(agent, Permission::CloudletWrite("cl-b")).code(), common::StatusCode::kPermissionDenied);
  EXPECT_FALSE(policy_->Authorize(agent, Permission::PlacementWrite()).ok());
  EXPECT_FALSE(policy_->Authorize(agent, Permission::Operator()).ok());

  const Principal tenant = *policy_->Authenticate(Issue({.role = Role::kTenant, .tenant = "acme"}));
  EXPECT_TRUE(policy_->Authorize(tenant, Permission::PlacementWrite()).ok());
  EXPECT_TRUE(policy_->Authorize(tenant, Permission::TokenManage()).ok());
  EXPECT_FALSE(policy_->Authorize(tenant, Permission::CloudletWrite("cl-a")).ok());
  EXPECT_FALSE(policy_->Authorize(tenant, Permission::Operator()).ok());
}

TEST_F(TokenPolicyTest, ScopesNarrowWhatARoleMayDo) {
  const Principal reader =
      *policy_->Authenticate(Issue({.role = Role::kTenant, .tenant = "acme", .scopes = {"placement.read"}}));
  EXPECT_TRUE(policy_->Authorize(reader, Permission::PlacementRead()).ok());
  EXPECT_FALSE(policy_->Authorize(reader, Permission::PlacementWrite()).ok());
  // A scope beyond the role is refused at issue.
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kApp, .tenant = "acme", .scopes = {"cloudlet.write"}}).status().field(),
            "scopes");
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kApp, .tenant = "acme", .scopes = {"everything"}}).status().field(),
            "scopes");
}

TEST_F(TokenPolicyTest, ATenantMintsAppTokensOnlyForItself) {
  const Caller tenant = As(Issue({.role = Role::kTenant, .tenant = "acme"}));
  EXPECT_EQ(policy_->Issue(tenant, {.role = Role::kTenant, .tenant = "acme"}).status().code(),
            common::StatusCode::kPermissionDenied);
  auto app = policy_->Issue(tenant, {.role = Role::kApp, .tenant = "globex", .ttl = 2h});
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  EXPECT_EQ(app->tenant, "acme");  // forced to its own
  auto p = policy_->Authenticate(app->token);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->role, Role::kApp);
  EXPECT_EQ(p->tenant, "acme");
  // Its listing holds its own app tokens only.
  const Caller other = As(Issue({.role = Role::kTenant, .tenant = "globex"}));
  EXPECT_EQ(policy_->ListAppTokens(tenant).size(), 1u);
  EXPECT_TRUE(policy_->ListAppTokens(other).empty());
  EXPECT_TRUE(policy_->ListTokens(tenant).empty());
  // Another tenant cannot revoke it, and is told it does not exist.
  EXPECT_EQ(policy_->Revoke(other, app->id).code(), common::StatusCode::kNotFound);
  EXPECT_TRUE(policy_->Revoke(tenant, app->id).ok());
  EXPECT_FALSE(policy_->Authenticate(app->token).ok());
}

TEST_F(TokenPolicyTest, AppTokensAreVerifiedWithoutReadingTheStore) {
  const std::string app = Issue({.role = Role::kApp, .tenant = "acme", .ttl = 1h});
  const int reads = store_.reads;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(policy_->Authenticate(app).ok());
  EXPECT_EQ(store_.reads, reads);
}

TEST_F(TokenPolicyTest, AppTokensLiveAtMostADayAndExpire) {
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kApp, .tenant = "acme", .ttl = 25h}).status().field(), "ttl");
  const std::string app = Issue({.role = Role::kApp, .tenant = "acme", .ttl = 24h});
  EXPECT_TRUE(policy_->Authenticate(app).ok());
  clock_.Advance(24h);
  EXPECT_FALSE(policy_->Authenticate(app).ok());
}

TEST_F(TokenPolicyTest, TamperedOrForgedAppTokensAreRejected) {
  const std::string app = Issue({.role = Role::kApp, .tenant = "acme", .ttl = 1h});
  // Claims rewritten to another tenant, with the MAC left as it was.
  auto claims = ParseAppToken(app);
  ASSERT_TRUE(claims.ok());
  claims->tenant = "globex";
  const std::string forged_payload = SignAppToken(*claims, std::string(64, '0'));
  const std::string tampered = forged_payload.substr(0, forged_payload.rfind('.')) + app.substr(app.rfind('.'));
  EXPECT_FALSE(policy_->Authenticate(tampered).ok());
  // Signed with a key of the attacker's choosing.
  EXPECT_FALSE(policy_->Authenticate(forged_payload).ok());
  // A lifetime beyond a day, even when validly signed.
  claims->tenant = "acme";
  claims->expires_at = claims->issued_at + 48 * 3600;
  EXPECT_FALSE(policy_->Authenticate(SignAppToken(*claims, store_.tenants["acme"].signing_key)).ok());
  EXPECT_FALSE(policy_->Authenticate("cla.not-base64!.x").ok());
}

TEST_F(TokenPolicyTest, DisablingATenantOrRotatingItsKeyKillsItsTokens) {
  const std::string tenant_token = Issue({.role = Role::kTenant, .tenant = "acme"});
  const std::string app = Issue({.role = Role::kApp, .tenant = "acme", .ttl = 1h});
  ASSERT_TRUE(policy_->RotateSigningKey(op_, "acme").ok());
  EXPECT_FALSE(policy_->Authenticate(app).ok());         // signed with the old key
  EXPECT_TRUE(policy_->Authenticate(tenant_token).ok());  // long-lived tokens are not signed
  const std::string fresh = Issue({.role = Role::kApp, .tenant = "acme", .ttl = 1h});
  EXPECT_TRUE(policy_->Authenticate(fresh).ok());
  ASSERT_TRUE(policy_->DisableTenant(op_, "acme").ok());
  EXPECT_FALSE(policy_->Authenticate(tenant_token).ok());
  EXPECT_FALSE(policy_->Authenticate(fresh).ok());
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kApp, .tenant = "acme"}).status().field(), "tenant");
}

TEST_F(TokenPolicyTest, EverythingSurvivesARestartFromTheStore) {
  const std::string tenant_token = Issue({.role = Role::kTenant, .tenant = "acme"});
  const std::string app = Issue({.role = Role::kApp, .tenant = "acme", .ttl = 1h});
  const std::string revoked = Issue({.role = Role::kAgent, .cloudlet_id = "cl-a"});
  ASSERT_TRUE(policy_->Revoke(op_, policy_->Authenticate(revoked)->subject).ok());
  auto restarted = TokenPolicy::Create(kBootstrap, store_, clock_);
  ASSERT_TRUE(restarted.ok());
  EXPECT_TRUE((*restarted)->Authenticate(tenant_token).ok());
  EXPECT_TRUE((*restarted)->Authenticate(app).ok());
  EXPECT_FALSE((*restarted)->Authenticate(revoked).ok());
}

TEST_F(TokenPolicyTest, AFailedWriteChangesNothing) {
  store_.fail_writes = true;
  EXPECT_FALSE(policy_->CreateTenant(op_, "initech", "").ok());
  EXPECT_FALSE(policy_->Issue(op_, {.role = Role::kTenant, .tenant = "acme"}).ok());
  store_.fail_writes = false;
  EXPECT_EQ(policy_->ListTenants().size(), 2u);
  EXPECT_TRUE(policy_->ListTokens(op_).empty());
}

TEST_F(TokenPolicyTest, AdministrationIsAudited) {
  Issue({.role = Role::kAgent, .cloudlet_id = "cl-a"});
  ASSERT_GE(store_.audit.size(), 3u);
  EXPECT_EQ(store_.audit[0].action, "tenant.create");
  EXPECT_EQ(store_.audit[0].remote, "127.0.0.1");
  EXPECT_EQ(store_.audit.back().action, "token.create");
  EXPECT_NE(store_.audit.back().detail.find("cloudlet=cl-a"), std::string::npos);
}

TEST_F(TokenPolicyTest, BadRequestsNameTheField) {
  EXPECT_EQ(policy_->CreateTenant(op_, "Bad Id", "").status().field(), "id");
  EXPECT_EQ(policy_->CreateTenant(op_, "acme", "").status().code(), common::StatusCode::kAlreadyExists);
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kAgent}).status().field(), "cloudlet");
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kTenant}).status().field(), "tenant");
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kTenant, .tenant = "nobody"}).status().field(), "tenant");
  EXPECT_EQ(policy_->Issue(op_, {.role = Role::kOperator, .tenant = "acme"}).status().field(), "tenant");
}

}  // namespace
}  // namespace cloudlet::auth

namespace cloudlet::auth {
namespace {

TEST_F(TokenPolicyTest, MalformedTokensOfEveryShapeAreRejected) {
  const std::string app = Issue({.role = Role::kApp, .tenant = "acme", .ttl = std::chrono::hours(1)});
  const std::string tenant = Issue({.role = Role::kTenant, .tenant = "acme"});
  ASSERT_TRUE(policy_->Authenticate(app).ok());
  const std::string key = store_.tenants["acme"].signing_key;
  auto claims = *ParseAppToken(app);

  std::vector<std::pair<std::string, std::string>> bad = {
      {"app token truncated", app.substr(0, app.size() - 5)},
      {"app token without its MAC", app.substr(0, app.rfind('.'))},
      {"app token padded", app + "=="},
      {"app token with trailing junk", app + ".extra"},
      {"long-lived token truncated", tenant.substr(0, tenant.size() - 1)},
      {"long-lived token padded", tenant + "="},
      {"long-lived token with a short accessor", "clt_abc_" + tenant.substr(21)},
      {"bootstrap token padded", std::string(kBootstrap) + " "},
      {"just the prefix", "cla."},
      {"empty payload", "cla..abc"},
  };
  claims.version = 2;
  bad.push_back({"wrong version", SignAppToken(claims, key)});
  claims.version = 1;
  bad.push_back({"wrong signature", SignAppToken(claims, std::string(64, 'f'))});
  claims.key_id = "0000000000000000";
  bad.push_back({"unknown key id", SignAppToken(claims, key)});
  for (const auto& [what, token] : bad) {
    auto p = policy_->Authenticate(token);
    EXPECT_FALSE(p.ok()) << what;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), common::StatusCode::kUnauthenticated) << what;
    }
  }
}

TEST(AppTokenFormat, RoundTripsItsClaims) {
  AppTokenClaims c{1, "app-x", "acme", "k1", {"placement.read"}, 1000, 2000};
  const std::string key(64, '7');
  const std::string token = SignAppToken(c, key);
  EXPECT_TRUE(LooksLikeAppToken(token));
  EXPECT_TRUE(VerifyAppTokenMac(token, key));
  auto parsed = ParseAppToken(token);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->tenant, "acme");
  EXPECT_EQ(parsed->scopes, std::vector<std::string>{"placement.read"});
  EXPECT_EQ(parsed->expires_at, 2000);
  EXPECT_FALSE(VerifyAppTokenMac(token, std::string(64, '8')));
}

}  // namespace
}  // namespace cloudlet::auth
