// The schema of the registry's database and its forward-only migrations.
#include <string>
#include <vector>

#include "sqlite_shared.h"

namespace cloudlet::store {

using common::Status;

namespace {

// Forward-only migrations; entry i brings the schema to version i + 1. Portable SQL only.
const std::vector<const char*> kMigrations = {
    R"sql(
      CREATE TABLE cloudlets (
        id TEXT PRIMARY KEY,
        descriptor TEXT NOT NULL,
        load REAL NOT NULL,
        free_cpu_millis INTEGER NOT NULL,
        free_mem_mb INTEGER NOT NULL,
        registered_at_ms INTEGER NOT NULL,
        last_heartbeat_ms INTEGER NOT NULL
      );
      CREATE TABLE registry_meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
    )sql",
    R"sql(
      CREATE TABLE placements (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        cloudlet_id TEXT NOT NULL,
        body TEXT NOT NULL,
        activated_at_ms INTEGER NOT NULL
      );
    )sql",
    R"sql(
      CREATE TABLE tenants (id TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE tokens (accessor TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE app_tokens (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL);
      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        remote TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
      );
    )sql",
    R"sql(
      CREATE TABLE usage (
        event_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        tenant TEXT NOT NULL,
        cloudlet TEXT NOT NULL,
        placement TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        cpu_core_s REAL NOT NULL,
        mem_mib_s REAL NOT NULL,
        net_in_bytes REAL NOT NULL,
        net_out_bytes REAL NOT NULL,
        gpu_s REAL NOT NULL,
        instance_s REAL NOT NULL,
        received_ms INTEGER NOT NULL
      );
      CREATE INDEX usage_by_start ON usage (start_ms);
      CREATE INDEX usage_by_tenant ON usage (tenant, start_ms);
      CREATE TABLE prices (effective TEXT PRIMARY KEY, body TEXT NOT NULL);
    )sql",
    R"sql(
      CREATE TABLE usage_daily (
        day_ms INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        cloudlet TEXT NOT NULL,
        cpu_core_s REAL NOT NULL,
        mem_mib_s REAL NOT NULL,
        net_in_bytes REAL NOT NULL,
        net_out_bytes REAL NOT NULL,
        gpu_s REAL NOT NULL,
        instance_s REAL NOT NULL,
        PRIMARY KEY (day_ms, tenant, cloudlet)
      );
      INSERT INTO usage_daily
        SELECT start_ms - start_ms % 86400000, tenant, cloudlet, SUM(cpu_core_s), SUM(mem_mib_s),
               SUM(net_in_bytes), SUM(net_out_bytes), SUM(gpu_s), SUM(instance_s)
        FROM usage GROUP BY 1, 2, 3;
    )sql",
};

}  // namespace

Status Migrate(Db& db, const common::Clock& clock) {
  CLOUDLET_RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)"));
  auto current = db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current.ok()) return current.status();
  auto row = current->Step();
  if (!row.ok()) return row.status();
  const int64_t version = current->Int(0);
  current->Reset();
  if (version > static_cast<int64_t>(kMigrations.size())) {
    return Status::FailedPrecondition(db.path() + ": schema version " + std::to_string(version) +
                                      " is newer than this build understands (" +
                                      std::to_string(kMigrations.size()) + "); use a newer cloudletd");
  }
  for (size_t v = static_cast<size_t>(version); v < kMigrations.size(); ++v) {
    CLOUDLET_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status st = db.Exec(kMigrations[v]);
    if (st.ok()) {
      auto mark = db.Prepare("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)");
      st = mark.ok() ? mark->Bind(1, static_cast<int64_t>(v + 1))
                           .Bind(2, common::ToUnixMillis(clock.Now()))
                           .Run()
                     : mark.status();
    }
    if (st.ok()) st = db.Exec("COMMIT");
    if (!st.ok()) {
      (void)db.Exec("ROLLBACK");
      return st.WithContext("migration to schema version " + std::to_string(v + 1));
    }
  }
  return Status::Ok();
}

int SqliteSchemaVersion() { return static_cast<int>(kMigrations.size()); }

}  // namespace cloudlet::store
