// Bearer tokens as any client may send them: long-lived tokens (looked up by hash) and app tokens
// (signed by a tenant's key), through the real policy on a real SQLite credential store. An input
// is accepted only if it is one of the tokens actually issued.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cloudlet/auth/app_token.h"
#include "cloudlet/auth/token.h"
#include "cloudlet/auth/token_policy.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/store/sqlite_stores.h"
#include "support/scratch.h"

namespace {

using namespace cloudlet;

constexpr char kBootstrap[] = "fuzz-bootstrap-token-0123456789abcdef";

struct Issued {
  common::ManualClock clock{common::FromUnixMillis(1'790'000'000'000)};
  store::SqliteStores stores;
  std::unique_ptr<auth::TokenPolicy> policy;
  std::string tenant_token, app_token;
};

Issued& Setup() {
  static Issued* issued = [] {
    auto* s = new Issued;
    auto stores = store::OpenSqliteStores(fuzz::ScratchDirectory() + "/tokens.db", s->clock);
    if (!stores.ok()) fuzz::DieInSetup(stores.status().ToString());
    s->stores = std::move(*stores);
    auto policy = auth::TokenPolicy::Create(kBootstrap, *s->stores.credentials, s->clock);
    if (!policy.ok()) fuzz::DieInSetup(policy.status().ToString());
    s->policy = std::move(*policy);
    auto op = s->policy->Authenticate(kBootstrap);
    if (!op.ok()) fuzz::DieInSetup(op.status().ToString());
    const auth::Caller caller{.principal = *op, .remote = "127.0.0.1"};
    if (auto t = s->policy->CreateTenant(caller, "acme", "Acme"); !t.ok()) fuzz::DieInSetup(t.status().ToString());
    auto tenant = s->policy->Issue(caller, {.role = auth::Role::kTenant, .tenant = "acme"});
    if (!tenant.ok()) fuzz::DieInSetup(tenant.status().ToString());
    s->tenant_token = tenant->token;
    auto app = s->policy->Issue(caller, {.role = auth::Role::kApp, .tenant = "acme", .ttl = common::Millis(3'600'000)});
    if (!app.ok()) fuzz::DieInSetup(app.status().ToString());
    s->app_token = app->token;
    return s;
  }();
  return *issued;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Issued& s = Setup();
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  (void)auth::ParseAppToken(token);
  (void)auth::FromBase64Url(token);
  (void)auth::ValidateTokenText(token, "token");
  auto who = s.policy->Authenticate(token);
  if (who.ok() && token != kBootstrap && token != s.tenant_token && token != s.app_token) {
    std::fprintf(stderr, "a token nobody issued was accepted: %.*s\n", static_cast<int>(size), token.data());
    std::abort();
  }
  return 0;
}
