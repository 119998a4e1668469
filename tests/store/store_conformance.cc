// The conformance suite's tests (see store_conformance.h). Each test opens a fresh database,
// writes through the interface, and reads back, usually after closing and opening again.
#include "store/store_conformance.h"

#include "discovery/test_descriptors.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {
namespace {

using common::FromUnixMillis;
using discovery::CloudletRecord;
using discovery::StoreOp;

OpenStores Open(const StoreBackend& backend, const std::string& where) {
  auto stores = backend.open(where);
  EXPECT_TRUE(stores.ok()) << stores.status().ToString();
  return stores.ok() ? std::move(*stores) : OpenStores{};
}

CloudletRecord Record(const std::string& id, double load) {
  CloudletRecord r;
  r.descriptor = MakeDescriptor(id);
  r.load = load;
  r.free = {1'000, 2'000};
  r.registered_at = FromUnixMillis(1'000);
  r.last_heartbeat = FromUnixMillis(2'000);
  return r;
}

TEST_P(StoreConformance, RegistryAppliesOpsInOrderAtomicallyAndKeepsTheIndex) {
  TempDir dir;
  {
    OpenStores s = Open(GetParam(), dir.path());
    ASSERT_NE(s.registry, nullptr);
    auto empty = s.registry->Load();
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->records.empty());
    EXPECT_EQ(empty->index, 0u);
    ASSERT_TRUE(s.registry->Apply({StoreOp::Put(Record("cl-a", 0.1)), StoreOp::Put(Record("cl-b", 0.2))}, 5).ok());
    CloudletRecord later = Record("cl-a", 0.7);
    later.last_heartbeat = FromUnixMillis(9'000);
    // An update of a record that no longer exists changes nothing.
    ASSERT_TRUE(s.registry->Apply({StoreOp::UpdateState(later), StoreOp::Delete("cl-b"),
                                   StoreOp::UpdateState(Record("cl-gone", 0.9))},
                                  8)
                    .ok());
  }
  OpenStores s = Open(GetParam(), dir.path());
  auto loaded = s.registry->Load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->records.size(), 1u);
  EXPECT_EQ(loaded->records[0].descriptor.id, "cl-a");
  EXPECT_DOUBLE_EQ(loaded->records[0].load, 0.7);
  EXPECT_EQ(loaded->records[0].last_heartbeat, FromUnixMillis(9'000));
  EXPECT_EQ(loaded->records[0].descriptor.name, MakeDescriptor("cl-a").name);
  EXPECT_EQ(loaded->records[0].descriptor.base_vms.size(), MakeDescriptor("cl-a").base_vms.size());
  EXPECT_EQ(loaded->index, 8u);
}

placement::Placement ActivePlacement(const std::string& id, const std::string& owner) {
  placement::Placement p;
  p.id = id;
  p.owner = owner;
  p.cloudlet_id = "cl-a";
  p.endpoint = "http://cl-a:8471";
  p.request.app = {.name = "ar", .base_vm = "sha256:" + std::string(64, 'a'), .base_vm_mb = 100, .overlay_mb = 10,
                   .cpu_millis = 500, .mem_mb = 256, .isolation = "vm", .service_ms = 5, .req_rate_hz = 2,
                   .session_s = 60, .max_rtt_ms = 30};
  p.state = placement::PlacementState::kActive;
  p.confirmed = true;
  p.created_at = FromUnixMillis(1'000);
  p.expires_at = FromUnixMillis(31'000);
  p.activated_at = FromUnixMillis(2'000);
  return p;
}

TEST_P(StoreConformance, PlacementsArePutReplacedAndRemovedDurably) {
  TempDir dir;
  {
    OpenStores s = Open(GetParam(), dir.path());
    ASSERT_NE(s.placements, nullptr);
    ASSERT_TRUE(s.placements->PutActive(ActivePlacement("pl-00000000000000a1", "acme")).ok());
    ASSERT_TRUE(s.placements->PutActive(ActivePlacement("pl-00000000000000b2", "beta")).ok());
    auto moved = ActivePlacement("pl-00000000000000a1", "acme");
    moved.cloudlet_id = "cl-b";
    ASSERT_TRUE(s.placements->PutActive(moved).ok());
    ASSERT_TRUE(s.placements->Remove("pl-00000000000000b2").ok());
    ASSERT_TRUE(s.placements->Remove("pl-0000000000000404").ok()) << "removing what is not there is no error";
  }
  OpenStores s = Open(GetParam(), dir.path());
  auto active = s.placements->LoadActive();
  ASSERT_TRUE(active.ok()) << active.status().ToString();
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].id, "pl-00000000000000a1");
  EXPECT_EQ((*active)[0].cloudlet_id, "cl-b");
  EXPECT_EQ((*active)[0].request.app.cpu_millis, 500);
  EXPECT_EQ((*active)[0].activated_at, FromUnixMillis(2'000));
}

TEST_P(StoreConformance, CredentialsAndTheAuditTrailSurviveAReopen) {
  TempDir dir;
  {
    OpenStores s = Open(GetParam(), dir.path());
    ASSERT_NE(s.credentials, nullptr);
    auth::Tenant t{.id = "acme", .name = "Acme AR", .created_at = FromUnixMillis(1'000), .disabled_at = std::nullopt,
                   .key_id = "k1", .signing_key = std::string(64, 'f'), .quotas = {}};
    t.quotas.max_placements = 3;
    ASSERT_TRUE(s.credentials->PutTenant(t).ok());
    t.disabled_at = FromUnixMillis(5'000);  // a put replaces
    ASSERT_TRUE(s.credentials->PutTenant(t).ok());
    auth::TokenRecord token{.accessor = "abcdefghijklmnop", .hash_hex = std::string(64, '0'), .role = auth::Role::kAgent,
                            .tenant = "", .cloudlet_id = "cl-a", .scopes = {"cloudlet.write"}, .description = "agent",
                            .created_by = "op", .created_at = FromUnixMillis(2'000), .expires_at = std::nullopt,
                            .revoked_at = std::nullopt};
    ASSERT_TRUE(s.credentials->PutToken(token).ok());
    ASSERT_TRUE(s.credentials->PutAppToken({.id = "app-1", .tenant = "acme", .scopes = {}, .created_by = "acme",
                                            .created_at = FromUnixMillis(3'000), .expires_at = FromUnixMillis(4'000),
                                            .revoked_at = std::nullopt})
                    .ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(s.credentials->AppendAudit({.seq = 0, .at = FromUnixMillis(10'000 + i), .actor = "op",
                                              .remote = "127.0.0.1", .action = "tenant.create",
                                              .target = "t" + std::to_string(i), .detail = ""})
                      .ok());
    }
  }
  OpenStores s = Open(GetParam(), dir.path());
  auto tenants = s.credentials->LoadTenants();
  ASSERT_TRUE(tenants.ok());
  ASSERT_EQ(tenants->size(), 1u);
  EXPECT_EQ((*tenants)[0].disabled_at, FromUnixMillis(5'000));
  EXPECT_EQ((*tenants)[0].quotas.max_placements, 3);
  auto tokens = s.credentials->LoadTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].role, auth::Role::kAgent);
  EXPECT_EQ((*tokens)[0].cloudlet_id, "cl-a");
  EXPECT_EQ((*tokens)[0].scopes, std::vector<std::string>{"cloudlet.write"});
  auto apps = s.credentials->LoadAppTokens();
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->size(), 1u);
  EXPECT_EQ((*apps)[0].expires_at, FromUnixMillis(4'000));
  auto audit = s.credentials->RecentAudit(2);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].target, "t2") << "newest first";
  EXPECT_EQ((*audit)[1].target, "t1");
}

metering::UsageRecord Usage(const std::string& event_id, const std::string& tenant, int64_t start_ms, double cpu) {
  metering::UsageRecord r;
  r.event_id = event_id;
  r.tenant = tenant;
  r.cloudlet = "cl-a";
  r.start = FromUnixMillis(start_ms);
  r.end = FromUnixMillis(start_ms + 60'000);
  r.q.cpu_core_s = cpu;
  return r;
}

TEST_P(StoreConformance, TheLedgerCountsAnEventOnceAndSumsByTenantAndDay) {
  TempDir dir;
  constexpr int64_t kDay = 86'400'000;
  {
    OpenStores s = Open(GetParam(), dir.path());
    ASSERT_NE(s.ledger, nullptr);
    auto first = s.ledger->Append({Usage("e1", "acme", 0, 10), Usage("e2", "acme", 1'000, 5), Usage("e3", "beta", kDay, 7)});
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(*first, (std::vector<metering::AppendOutcome>(3, metering::AppendOutcome::kAccepted)));
    auto again = s.ledger->Append({Usage("e1", "acme", 0, 99)});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ((*again)[0], metering::AppendOutcome::kDuplicate);
  }
  OpenStores s = Open(GetParam(), dir.path());
  auto all = s.ledger->Sum(FromUnixMillis(0), FromUnixMillis(2 * kDay), "", {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  double acme = 0, beta = 0;
  for (const auto& sum : *all) (sum.tenant == "acme" ? acme : beta) += sum.q.cpu_core_s;
  EXPECT_DOUBLE_EQ(acme, 15);
  EXPECT_DOUBLE_EQ(beta, 7);
  auto only = s.ledger->Sum(FromUnixMillis(0), FromUnixMillis(2 * kDay), "beta", {});
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].period, "1970-01-02");
}

TEST_P(StoreConformance, TheLedgerSumsByPlacementWhenAsked) {
  TempDir dir;
  OpenStores s = Open(GetParam(), dir.path());
  auto a = Usage("e1", "acme", 0, 10), b = Usage("e2", "acme", 60'000, 5), c = Usage("e3", "acme", 120'000, 1);
  a.placement_id = "pl-1";
  b.placement_id = "pl-2";
  c.placement_id = "pl-1";
  ASSERT_TRUE(s.ledger->Append({a, b, c}).ok());
  auto sums = s.ledger->Sum(FromUnixMillis(0), FromUnixMillis(86'400'000), "acme", {.by_placement = true});
  ASSERT_TRUE(sums.ok()) << sums.status().ToString();
  ASSERT_EQ(sums->size(), 2u);
  EXPECT_EQ((*sums)[0].placement, "pl-1");
  EXPECT_DOUBLE_EQ((*sums)[0].q.cpu_core_s, 11);
  EXPECT_EQ((*sums)[1].placement, "pl-2");
  auto whole = s.ledger->Sum(FromUnixMillis(0), FromUnixMillis(86'400'000), "acme", {});
  ASSERT_EQ(whole->size(), 1u) << "without it, placements are summed together";
  EXPECT_TRUE((*whole)[0].placement.empty());
}

TEST_P(StoreConformance, PriceVersionsAreKeptByEffectiveDay) {
  TempDir dir;
  {
    OpenStores s = Open(GetParam(), dir.path());
    ASSERT_NE(s.prices, nullptr);
    metering::PriceVersion v{.effective = "2026-01-01", .currency = "USD", .base = {}, .tiers = {}};
    v.base.cpu_core_hour = 0.12;
    ASSERT_TRUE(s.prices->PutPrice(v).ok());
    v.effective = "2026-02-01";
    v.base.cpu_core_hour = 0.10;
    ASSERT_TRUE(s.prices->PutPrice(v).ok());
  }
  OpenStores s = Open(GetParam(), dir.path());
  auto versions = s.prices->LoadPrices();
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  for (const auto& v : *versions) EXPECT_DOUBLE_EQ(v.base.cpu_core_hour, v.effective == "2026-01-01" ? 0.12 : 0.10);
}

TEST_P(StoreConformance, TheSpoolKeepsRecordsInOrderUntilRemovedAndIgnoresRepeats) {
  TempDir dir;
  {
    OpenStores s = Open(GetParam(), dir.path());
    ASSERT_NE(s.spool, nullptr);
    ASSERT_TRUE(s.spool->Add({{"u1", {{"n", 1}}}, {"u2", {{"n", 2}}}}).ok());
    ASSERT_TRUE(s.spool->Add({{"u1", {{"n", 100}}}, {"u3", {{"n", 3}}}}).ok());
    EXPECT_EQ(*s.spool->Size(), 3u);
  }
  OpenStores s = Open(GetParam(), dir.path());
  auto oldest = s.spool->Oldest(2);
  ASSERT_TRUE(oldest.ok());
  ASSERT_EQ(oldest->size(), 2u);
  EXPECT_EQ((*oldest)[0].event_id, "u1");
  EXPECT_EQ((*oldest)[0].body["n"], 1) << "the first body is kept";
  EXPECT_EQ((*oldest)[1].event_id, "u2");
  ASSERT_TRUE(s.spool->Remove({"u1", "u2"}).ok());
  auto rest = s.spool->Oldest(10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].event_id, "u3");
}

TEST_P(StoreConformance, TheSpoolKeepsAMetersCursorsWithTheRecordsTheyProduced) {
  TempDir dir;
  {
    OpenStores s = Open(GetParam(), dir.path());
    ASSERT_TRUE(s.spool->Add({{"w1", {{"n", 1}}}}, {{"pl-a", {{"at_ms", 10}}}, {"pl-b", {{"at_ms", 20}}}}).ok());
    ASSERT_TRUE(s.spool->Add({{"w2", {{"n", 2}}}}, {{"pl-a", {{"at_ms", 30}}}, {"pl-b", nullptr}}).ok());
  }
  OpenStores s = Open(GetParam(), dir.path());
  auto cursors = s.spool->Cursors();
  ASSERT_TRUE(cursors.ok()) << cursors.status().ToString();
  ASSERT_EQ(cursors->size(), 1u) << "pl-b was erased";
  EXPECT_EQ(cursors->at("pl-a")["at_ms"], 30) << "the newest cursor is kept";
  EXPECT_EQ(*s.spool->Size(), 2u);
  ASSERT_TRUE(s.spool->Remove({"w1", "w2"}).ok());
  EXPECT_EQ(s.spool->Cursors()->size(), 1u) << "forwarding records does not move cursors";
}

}  // namespace
}  // namespace cloudlet::testing
