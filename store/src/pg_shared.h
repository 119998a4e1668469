// What the PostgreSQL stores of one server share, and the factories OpenPostgresStores wires
// together. Private to store/. Each store lives in its own file (pg_<store>.cc); the schema and its
// migrations in pg_migrations.cc.
#pragma once

#include <memory>
#include <functional>
#include <mutex>
#include <string>

#include "cloudlet/store/postgres_stores.h"
#include "pg_conn.h"

namespace cloudlet::store {

// The two int4 keys of the advisory locks this program takes (pg_advisory_lock(key, ...)).
inline constexpr int kAdvisoryLockClass = 0x636c6f75;  // "clou"
inline constexpr int kMigrationLock = 1;               // held while migrating
inline constexpr int kInstanceLock = 2;                // held by the one cloudletd of a database
// Held by every write that takes change numbers (nextval('change_seq')) until it commits, so that
// numbers become visible in order: a reader that has seen N has seen every number below it.
inline constexpr int kChangeLock = 3;
inline constexpr char kRegistryChannel[] = "cloudlet_registry";        // NOTIFY'd by every registry write
inline constexpr char kCredentialsChannel[] = "cloudlet_credentials";  // and every credentials write
inline constexpr char kPlacementsChannel[] = "cloudlet_placements";    // and every placement write

// One connection shared by the stores of one server. Each store takes `mu` for a whole call, so
// stores used from different threads never interleave statements or transactions.
struct PgShared {
  PgShared(PgConn c, const common::Clock& clk, std::string u, PostgresOptions o);
  ~PgShared() { (void)conn.Run("SELECT pg_advisory_unlock_all()"); }  // at once, not when the server notices
  PgConn conn;
  const common::Clock& clock;
  const std::string url;  // for connections of their own (the registry's LISTEN)
  const PostgresOptions options;
  const std::string writer;  // this process's name in the change feeds (random)
  std::mutex mu;
};

// Runs `body` on one consistent snapshot of the database (REPEATABLE READ, read only).
common::Status InSnapshot(PgConn& conn, const std::function<common::Status()>& body);

// The change feed of one table: `columns` of its rows numbered after `cursor` (oldest first), each
// handed to `row` unless this process wrote it; `cursor` moves past every row read, its own too.
// The query adds change_seq and writer after `columns`.
common::Status ForEachChange(PgShared& shared, const std::string& columns, const std::string& table, uint64_t& cursor,
                             const std::function<common::Status(const PgResult& rows, int i)>& row);

// Brings the schema to PostgresSchemaVersion() under the migration lock; refuses a newer one.
common::Status MigratePostgres(PgConn& conn, const common::Clock& clock);

std::unique_ptr<discovery::RegistryStore> MakePgRegistryStore(std::shared_ptr<PgShared> shared);
std::unique_ptr<placement::PlacementStore> MakePgPlacementStore(std::shared_ptr<PgShared> shared);
std::unique_ptr<auth::CredentialStore> MakePgCredentialStore(std::shared_ptr<PgShared> shared);
std::shared_ptr<LedgerAndPrices> MakePgLedgerStore(std::shared_ptr<PgShared> shared);

}  // namespace cloudlet::store
