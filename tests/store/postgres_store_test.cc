// The PostgreSQL backend against a real PostgreSQL 15 started for this binary (initdb and pg_ctl in
// a temporary directory, on a free loopback port): the conformance suite every backend passes, then
// what is PostgreSQL's own (migrations under an advisory lock, one instance per database, a newer
// schema refused, reconnecting after the server restarts, no password in messages).
#include <atomic>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include "cloudlet/auth/token_policy.h"
#include "cloudlet/discovery/registry_service.h"
#include "cloudlet/store/postgres_stores.h"
#include "cloudlet/store/sqlite_stores.h"
#include "cloudlet/store/stores.h"
#include "discovery/test_descriptors.h"
#include "store/backend_stores.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {
namespace {

// The one server of this binary, started by the first test that needs it.
PostgresServer* Server() {
  static std::unique_ptr<PostgresServer> server = PostgresServer::Start();
  return server.get();
}

// A new database per call: "t1", "t2", ...
std::string NewDatabase() {
  static std::atomic<int> next{0};
  return Server()->CreateDatabase("t" + std::to_string(++next));
}

StoreBackend PostgresBackend() {
  return {.name = "Postgres", .open = [](const std::string& where) -> common::Result<OpenStores> {
            // Each directory the suite names is one database, made on its first open.
            static std::mutex mu;
            static std::map<std::string, std::string> urls;
            std::string url;
            {
              std::lock_guard lock(mu);
              if (Server() == nullptr) return common::Status::Unavailable(PostgresServer::last_error());
              auto [it, added] = urls.emplace(where, "");
              if (added) it->second = NewDatabase();
              url = it->second;
            }
            if (url.empty()) return common::Status::Unavailable(PostgresServer::last_error());
            return WithSpool(store::OpenPostgresStores(url), where + "/spool.db");
          }};
}

std::vector<StoreBackend> Backends() {
  if (PostgresServer::WhyUnavailable()) return {};  // PostgresStore.ServerStarts says why (or fails in CI)
  return {PostgresBackend()};
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(Backends()),
                         [](const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; });

class PostgresStore : public ::testing::Test {
 protected:
  void SetUp() override {
    CLOUDLET_REQUIRE_POSTGRES();
    ASSERT_NE(Server(), nullptr) << PostgresServer::last_error();
    url_ = NewDatabase();
    ASSERT_FALSE(url_.empty()) << PostgresServer::last_error();
  }
  std::string url_;
};

TEST_F(PostgresStore, ServerStarts) { EXPECT_GT(Server()->port(), 0); }

TEST_F(PostgresStore, ProcessesStartingAtOnceMigrateOnceAndOnlyOneClaimsTheDatabase) {
  constexpr int kProcesses = 4;
  std::vector<common::Result<store::Stores>> opened;
  opened.reserve(kProcesses);
  for (int i = 0; i < kProcesses; ++i) opened.emplace_back(common::Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&, i] { opened[i] = store::OpenPostgresStores(url_); });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const auto& o : opened) {
    if (o.ok()) {
      ++ok;
      continue;
    }
    EXPECT_EQ(o.status().code(), common::StatusCode::kFailedPrecondition) << o.status().ToString();
    EXPECT_NE(o.status().message().find("in use by another cloudletd"), std::string::npos) << o.status().message();
  }
  EXPECT_EQ(ok, 1);
  // Every version once, in order.
  auto versions = Server()->Psql(url_.substr(url_.rfind('/') + 1),
                                 "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations");
  ASSERT_TRUE(versions) << PostgresServer::last_error();
  std::string want;
  for (int v = 1; v <= store::PostgresSchemaVersion(); ++v) want += (v > 1 ? "," : "") + std::to_string(v);
  EXPECT_EQ(*versions, want + "\n");
}

TEST_F(PostgresStore, ClosingReleasesTheClaimAtOnce) {
  for (int i = 0; i < 5; ++i) {
    auto stores = store::OpenPostgresStores(url_);
    ASSERT_TRUE(stores.ok()) << "open " << i << ": " << stores.status().ToString();
  }
}

TEST_F(PostgresStore, ANewerSchemaIsRefusedAndLeftAlone) {
  { ASSERT_TRUE(store::OpenPostgresStores(url_).ok()); }
  const std::string db = url_.substr(url_.rfind('/') + 1);
  ASSERT_TRUE(Server()->Psql(db, "INSERT INTO schema_migrations VALUES (99, 0)"));
  auto stores = store::OpenPostgresStores(url_);
  ASSERT_FALSE(stores.ok());
  EXPECT_EQ(stores.status().code(), common::StatusCode::kFailedPrecondition);
  EXPECT_NE(stores.status().message().find("schema version 99 is newer"), std::string::npos)
      << stores.status().message();
  EXPECT_EQ(Server()->Psql(db, "SELECT count(*) FROM schema_migrations"),
            std::to_string(store::PostgresSchemaVersion() + 1) + "\n");
}

TEST_F(PostgresStore, AnUnreachableServerIsUnavailableAndThePasswordNeverShows) {
  // A port nothing listens on (this server's, plus one, is not ours to assume: take a closed one).
  auto stores = store::OpenStores("postgresql://cloudlet:s3cret-pass@127.0.0.1:1/cloudlet?connect_timeout=2");
  ASSERT_FALSE(stores.ok());
  EXPECT_EQ(stores.status().code(), common::StatusCode::kUnavailable);
  EXPECT_EQ(stores.status().message().find("s3cret-pass"), std::string::npos) << stores.status().message();
  EXPECT_NE(stores.status().message().find("postgresql://cloudlet:***@127.0.0.1:1/cloudlet"), std::string::npos)
      << stores.status().message();
  EXPECT_EQ(store::RedactPostgresUrl("host=db password=abc user=x"), "host=db password=*** user=x");
}

TEST_F(PostgresStore, StoresReconnectAfterTheServerRestarts) {
  auto stores = store::OpenStores(url_);
  ASSERT_TRUE(stores.ok()) << stores.status().ToString();
  auth::Tenant acme;
  acme.id = "acme";
  acme.name = "Acme";
  ASSERT_TRUE(stores->credentials->PutTenant(acme).ok());
  ASSERT_TRUE(Server()->Restart()) << PostgresServer::last_error();
  // The first call may find the old connection closed (503); a later one reconnects and re-claims.
  common::Result<std::vector<auth::Tenant>> tenants = common::Status::Internal("not called");
  for (int i = 0; i < 3 && !tenants.ok(); ++i) {
    tenants = stores->credentials->LoadTenants();
    if (!tenants.ok()) {
      EXPECT_EQ(tenants.status().code(), common::StatusCode::kUnavailable) << tenants.status().ToString();
    }
  }
  ASSERT_TRUE(tenants.ok()) << tenants.status().ToString();
  ASSERT_EQ(tenants->size(), 1u);
  EXPECT_EQ((*tenants)[0].name, "Acme");
  // The claim came back with the connection: a second process is still refused.
  auto second = store::OpenPostgresStores(url_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), common::StatusCode::kFailedPrecondition);
}

// Two registries sharing one database (several_instances): what one writes, the other reads from
// the change feed, and a write wakes the other's wait.
class SharedDatabase : public PostgresStore {
 protected:
  void SetUp() override {
    PostgresStore::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (auto* s : {&a_, &b_}) {
      auto opened = store::OpenPostgresStores(url_, common::WallClock(), {.several_instances = true});
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      *s = std::move(*opened);
    }
  }
  static discovery::CloudletRecord Record(const std::string& id, int64_t heartbeat_ms, double load = 0.1) {
    discovery::CloudletRecord r;
    r.descriptor = MakeDescriptor(id);
    r.load = load;
    r.free = {1'000, 2'000};
    r.registered_at = common::FromUnixMillis(1'000);
    r.last_heartbeat = common::FromUnixMillis(heartbeat_ms);
    return r;
  }
  store::Stores a_, b_;
};

TEST_F(SharedDatabase, EachReadsWhatTheOtherWroteInOrderAndNotItsOwn) {
  using discovery::StoreOp;
  ASSERT_TRUE(a_.registry->shared());
  auto start = b_.registry->Load();
  ASSERT_TRUE(start.ok());
  ASSERT_TRUE(a_.registry->Apply({StoreOp::Put(Record("cl-x", 2'000)), StoreOp::Put(Record("cl-y", 2'000))}, 1).ok());
  auto seen = b_.registry->ChangesSince(start->cursor);
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  ASSERT_EQ(seen->records.size(), 2u);
  EXPECT_EQ(seen->records[0].descriptor.id, "cl-x");
  EXPECT_GT(seen->cursor, start->cursor);
  // A's own writes move its cursor without coming back to it.
  auto own = a_.registry->ChangesSince(start->cursor);
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(own->records.empty());
  EXPECT_EQ(own->cursor, seen->cursor);
  // An older heartbeat never overwrites a newer one; a deletion reaches the other.
  ASSERT_TRUE(b_.registry->Apply({StoreOp::UpdateState(Record("cl-x", 9'000, 0.9))}, 2).ok());
  ASSERT_TRUE(a_.registry->Apply({StoreOp::UpdateState(Record("cl-x", 5'000, 0.5)), StoreOp::Delete("cl-y")}, 2).ok());
  auto later = b_.registry->ChangesSince(seen->cursor);
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->records.empty());  // the stale update changed nothing; B's own update is B's
  EXPECT_EQ(later->deleted, std::vector<std::string>{"cl-y"});
  auto loaded = a_.registry->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->records.size(), 1u);
  EXPECT_DOUBLE_EQ(loaded->records[0].load, 0.9);
  EXPECT_EQ(loaded->cursor, later->cursor);
}

TEST_F(SharedDatabase, AWriteWakesTheOthersWaitAtOnce) {
  b_.registry->WaitForChanges(std::chrono::milliseconds(10));  // connects and listens
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(a_.registry->Apply({discovery::StoreOp::Put(Record("cl-x", 2'000))}, 1).ok());
  });
  const auto t0 = std::chrono::steady_clock::now();
  b_.registry->WaitForChanges(std::chrono::seconds(10));
  const auto waited = std::chrono::steady_clock::now() - t0;
  writer.join();
  EXPECT_LT(waited, std::chrono::seconds(2));
  EXPECT_GE(waited, std::chrono::milliseconds(150));
}

TEST_F(SharedDatabase, TwoRegistryServicesFollowEachOtherWithinASecond) {
  const discovery::RegistryOptions options;  // 5 s heartbeats
  discovery::RegistryService a(common::WallClock(), options, *a_.registry);
  discovery::RegistryService b(common::WallClock(), options, *b_.registry);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  // A blocking query on B, parked before the registration through A.
  std::promise<void> woke;
  b.registry().Watch(b.registry().index(), [&] { woke.set_value(); });
  std::promise<common::Result<discovery::PutOutcome>> put;
  a.Register(MakeDescriptor("cl-a"), [&](common::Result<discovery::PutOutcome> r) { put.set_value(r); });
  auto outcome = put.get_future().get();
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, discovery::PutOutcome::kCreated);
  ASSERT_TRUE(WaitFor([&] { return b.registry().Contains("cl-a"); }, std::chrono::milliseconds(1'000)));
  EXPECT_EQ(woke.get_future().wait_for(std::chrono::milliseconds(100)), std::future_status::ready);
  EXPECT_EQ(b.registry().Get("cl-a")->health, discovery::Health::kHealthy);
  // A heartbeat through B reaches A (flushed within a second, then followed).
  ASSERT_TRUE(b.Heartbeat("cl-a", {.load = 0.75}).ok());
  EXPECT_TRUE(WaitFor([&] { return a.registry().Get("cl-a")->load == 0.75; }, std::chrono::milliseconds(2'500)));
  // A deregistration through A leaves B.
  std::promise<common::Status> gone;
  a.Deregister("cl-a", [&](common::Status s) { gone.set_value(s); });
  ASSERT_TRUE(gone.get_future().get().ok());
  EXPECT_TRUE(WaitFor([&] { return !b.registry().Contains("cl-a"); }, std::chrono::milliseconds(1'500)));
  a.Stop();
  b.Stop();
}

TEST_F(SharedDatabase, ARotationOrRevocationThroughOneTakesEffectInTheOtherWithinTwoSeconds) {
  using std::chrono::milliseconds;
  constexpr char kBootstrap[] = "bootstrap-operator-token-0123456789";
  auto a = auth::TokenPolicy::Create(kBootstrap, *a_.credentials, common::WallClock());
  auto b = auth::TokenPolicy::Create(kBootstrap, *b_.credentials, common::WallClock());
  ASSERT_TRUE(a.ok() && b.ok());
  const auth::Caller op_a{*(*a)->Authenticate(kBootstrap), "127.0.0.1"};
  const auth::Caller op_b{*(*b)->Authenticate(kBootstrap), "127.0.0.1"};
  ASSERT_TRUE((*a)->CreateTenant(op_a, "acme", "Acme").ok());
  auto tenant_token = (*a)->Issue(op_a, {.role = auth::Role::kTenant, .tenant = "acme"});
  ASSERT_TRUE(tenant_token.ok()) << tenant_token.status().ToString();
  // B learns of the new tenant and its token without a restart.
  EXPECT_TRUE(WaitFor([&] { return (*b)->Authenticate(tenant_token->token).ok(); }, milliseconds(2'000)));
  // The tenant's backend mints an app token through B; A verifies it with the same key.
  const auth::Caller tenant{*(*b)->Authenticate(tenant_token->token), "127.0.0.1"};
  auto app = (*b)->Issue(tenant, {.ttl = common::Millis(3'600'000)});
  ASSERT_TRUE(app.ok()) << app.status().ToString();
  EXPECT_TRUE((*a)->Authenticate(app->token).ok());
  // A key rotation through A stops that app token at B; a revocation through B stops the tenant's
  // token at A; each within 2 s.
  ASSERT_TRUE((*a)->RotateSigningKey(op_a, "acme").ok());
  EXPECT_TRUE(WaitFor([&] { return !(*b)->Authenticate(app->token).ok(); }, milliseconds(2'000)));
  ASSERT_TRUE((*b)->Revoke(op_b, tenant_token->id).ok());
  EXPECT_TRUE(WaitFor([&] { return !(*a)->Authenticate(tenant_token->token).ok(); }, milliseconds(2'000)));
  EXPECT_TRUE((*b)->Authenticate(kBootstrap).ok());
}

}  // namespace
}  // namespace cloudlet::testing
