#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "cloudlet/store/sqlite_stores.h"
#include "discovery/test_descriptors.h"
#include "support/temp_dir.h"

namespace cloudlet::store {
namespace {

using discovery::CloudletRecord;
using discovery::StoreOp;
using testing::MakeDescriptor;

CloudletRecord Record(const std::string& id, double load = 0) {
  CloudletRecord r;
  r.descriptor = MakeDescriptor(id);
  r.load = load;
  r.free = {1'000, 2'000};
  r.registered_at = common::FromUnixMillis(1'000);
  r.last_heartbeat = common::FromUnixMillis(2'000);
  return r;
}

// Runs one SQL statement on the file directly, as an operator with the sqlite3 shell would.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

class SqliteRegistryStoreTest : public ::testing::Test {
 protected:
  cloudlet::testing::TempDir dir_;
  std::string path_ = dir_.File("var/cloudlet.db");
};

TEST_F(SqliteRegistryStoreTest, CreatesDirectoryAndSchemaAndStartsEmpty) {
  auto store = OpenSqliteRegistryStore(path_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->records.empty());
  EXPECT_EQ(loaded->index, 0u);
  struct stat st{};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);  // no access for group or others
  EXPECT_EQ(SqliteSchemaVersion(), 5);
}

TEST_F(SqliteRegistryStoreTest, AppliedOpsSurviveReopening) {
  {
    auto store = OpenSqliteRegistryStore(path_);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Apply({StoreOp::Put(Record("cl-a")), StoreOp::Put(Record("cl-b")), StoreOp::Put(Record("cl-c"))}, 7).ok());
    ASSERT_TRUE((*store)->Apply({StoreOp::UpdateState(Record("cl-a", 0.5)), StoreOp::Delete("cl-b")}, 9).ok());
  }
  auto store = OpenSqliteRegistryStore(path_);
  ASSERT_TRUE(store.ok());
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->index, 9u);
  ASSERT_EQ(loaded->records.size(), 2u);
  EXPECT_EQ(loaded->records[0].descriptor.id, "cl-a");
  EXPECT_DOUBLE_EQ(loaded->records[0].load, 0.5);
  EXPECT_EQ(loaded->records[0].free.mem_mb, 2'000);
  EXPECT_EQ(common::ToUnixMillis(loaded->records[0].last_heartbeat), 2'000);
  EXPECT_EQ(loaded->records[0].descriptor.base_vms.size(), 1u);
  EXPECT_EQ(loaded->records[1].descriptor.id, "cl-c");
}

TEST_F(SqliteRegistryStoreTest, StateUpdateOfAnAbsentCloudletInsertsNothing) {
  auto store = OpenSqliteRegistryStore(path_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Apply({StoreOp::Put(Record("cl-a")), StoreOp::Delete("cl-a"), StoreOp::UpdateState(Record("cl-a"))}, 3).ok());
  EXPECT_TRUE((*store)->Load()->records.empty());
}

TEST_F(SqliteRegistryStoreTest, SecondOpenOfTheSameFileIsRefused) {
  auto first = OpenSqliteRegistryStore(path_);
  ASSERT_TRUE(first.ok());
  auto second = OpenSqliteRegistryStore(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), common::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("cloudlet.db"), std::string::npos);
}

TEST_F(SqliteRegistryStoreTest, UsesWalAndRecordsTheSchemaVersion) {
  { ASSERT_TRUE(OpenSqliteRegistryStore(path_).ok()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT MAX(version) FROM schema_migrations", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), SqliteSchemaVersion());
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SqliteRegistryStoreTest, RefusesADatabaseFromANewerBuild) {
  { ASSERT_TRUE(OpenSqliteRegistryStore(path_).ok()); }
  RawExec(path_, "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (99, 0)");
  auto store = OpenSqliteRegistryStore(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

TEST_F(SqliteRegistryStoreTest, CorruptRowIsReportedWithFileAndId) {
  {
    auto store = OpenSqliteRegistryStore(path_);
    ASSERT_TRUE((*store)->Apply({StoreOp::Put(Record("cl-a"))}, 1).ok());
  }
  RawExec(path_, "UPDATE cloudlets SET descriptor = '{\"endpoint\": 3}' WHERE id = 'cl-a'");
  auto store = OpenSqliteRegistryStore(path_);
  ASSERT_TRUE(store.ok());
  auto loaded = (*store)->Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("cloudlet.db"), std::string::npos);
  EXPECT_NE(loaded.status().message().find("cl-a"), std::string::npos);
}

TEST_F(SqliteRegistryStoreTest, UnwritableDirectoryNamesThePath) {
  auto store = OpenSqliteRegistryStore("/proc/cloudlet-test/x.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/proc/cloudlet-test"), std::string::npos);
}

}  // namespace
}  // namespace cloudlet::store

namespace cloudlet::store {
namespace {

TEST(SqliteLedgerTest, AReplayIsADuplicateAndCountsOnceAcrossReopen) {
  testing::TempDir dir;
  metering::UsageRecord r;
  r.event_id = "e-1";
  r.tenant = "acme";
  r.cloudlet = "cl-a";
  r.start = common::FromUnixMillis(1'800'000'000'000);
  r.end = r.start + std::chrono::hours(1);
  r.q.cpu_core_s = 3600;
  {
    auto stores = OpenSqliteStores(dir.File("c.db"));
    ASSERT_TRUE(stores.ok());
    auto first = stores->ledger->Append({r});
    ASSERT_TRUE(first.ok());
    EXPECT_EQ((*first)[0], metering::AppendOutcome::kAccepted);
    metering::UsageRecord other = r;
    other.event_id = "e-2";
    auto again = stores->ledger->Append({r, other});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ((*again)[0], metering::AppendOutcome::kDuplicate);
    EXPECT_EQ((*again)[1], metering::AppendOutcome::kAccepted);
  }
  auto reopened = OpenSqliteStores(dir.File("c.db"));
  ASSERT_TRUE(reopened.ok());
  auto replay = reopened->ledger->Append({r});
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ((*replay)[0], metering::AppendOutcome::kDuplicate);
  auto sums = reopened->ledger->Sum(r.start - std::chrono::hours(1), r.end, "", {});
  ASSERT_TRUE(sums.ok());
  ASSERT_EQ(sums->size(), 1u);
  EXPECT_EQ((*sums)[0].q.cpu_core_s, 7200);  // e-1 and e-2, each once
  // Whole days are read from the daily roll-up; it agrees with the records.
  const int64_t day_ms = common::ToUnixMillis(r.start) / 86'400'000 * 86'400'000;
  auto daily = reopened->ledger->Sum(common::FromUnixMillis(day_ms), common::FromUnixMillis(day_ms + 86'400'000), "", {});
  ASSERT_TRUE(daily.ok());
  ASSERT_EQ(daily->size(), 1u);
  EXPECT_EQ((*daily)[0].q.cpu_core_s, 7200);
  EXPECT_EQ((*daily)[0].period, (*sums)[0].period);
  auto none = reopened->ledger->Sum(r.start - std::chrono::hours(1), r.end, "globex", {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace cloudlet::store

namespace cloudlet::store {
namespace {

TEST(SqliteCredentialStoreTest, BodiesWithoutOptionalMembersLoad) {
  testing::TempDir dir;
  {
    auto stores = OpenSqliteStores(dir.File("c.db"));
    ASSERT_TRUE(stores.ok());
  }
  // A tenant and a token as an older build (or a hand edit) may have left them: members missing.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.File("c.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "INSERT INTO tenants (id, body) VALUES ('old', '{\"id\":\"old\",\"key_id\":\"k\"}');"
                         "INSERT INTO tokens (accessor, body) VALUES ('aaaaaaaaaaaaaaaa', '{\"accessor\":\"aaaaaaaaaaaaaaaa\"}');"
                         "INSERT INTO app_tokens (id, tenant, body) VALUES ('app-1', 'old', '{\"id\":\"app-1\"}');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto stores = OpenSqliteStores(dir.File("c.db"));
  ASSERT_TRUE(stores.ok());
  auto tenants = stores->credentials->LoadTenants();
  ASSERT_TRUE(tenants.ok());
  ASSERT_EQ(tenants->size(), 1u);
  EXPECT_FALSE((*tenants)[0].disabled_at);
  EXPECT_FALSE((*tenants)[0].quotas.max_placements);
  auto tokens = stores->credentials->LoadTokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_FALSE((*tokens)[0].expires_at);
  EXPECT_EQ((*tokens)[0].role, auth::Role::kApp);  // an unknown role is the least privileged
  EXPECT_TRUE(stores->credentials->LoadAppTokens().ok());
}

}  // namespace
}  // namespace cloudlet::store
