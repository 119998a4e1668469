// The PostgreSQL schema and its forward-only migrations, applied under an advisory lock so that
// several processes starting at once on a new database apply each exactly once.
#include <string>
#include <vector>

#include "pg_shared.h"

namespace cloudlet::store {

using common::Status;

namespace {

// The change feed of `table` (docs/operations.md): each row's change number and writer, indexed.
std::string FeedColumns(const std::string& table) {
  return "ALTER TABLE " + table + " ADD COLUMN change_seq BIGINT NOT NULL DEFAULT nextval('change_seq');\n" +
         "ALTER TABLE " + table + " ADD COLUMN writer TEXT NOT NULL DEFAULT '';\n" +
         "CREATE INDEX " + table + "_by_change ON " + table + " (change_seq);\n";
}

// Where deletions from a fed table are announced: `table` holds the ids, numbered the same way.
std::string DeletionsTable(const std::string& table) {
  return "CREATE TABLE " + table + " (id TEXT PRIMARY KEY, writer TEXT NOT NULL, " +
         "change_seq BIGINT NOT NULL DEFAULT nextval('change_seq'));\n" +
         "CREATE INDEX " + table + "_by_change ON " + table + " (change_seq);\n";
}

// Entry i brings the schema to version i + 1. The same tables as SQLite's (sqlite_migrations.cc),
// in PostgreSQL's types.
const std::vector<std::string> kPgMigrations = {
    R"sql(
      CREATE TABLE cloudlets (
        id TEXT PRIMARY KEY,
        descriptor TEXT NOT NULL,
        load DOUBLE PRECISION NOT NULL,
        free_cpu_millis BIGINT NOT NULL,
        free_mem_mb BIGINT NOT NULL,
        registered_at_ms BIGINT NOT NULL,
        last_heartbeat_ms BIGINT NOT NULL
      );
      CREATE TABLE registry_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
    )sql",
    R"sql(
      CREATE TABLE placements (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        cloudlet_id TEXT NOT NULL,
        body TEXT NOT NULL,
        activated_at_ms BIGINT NOT NULL
      );
    )sql",
    R"sql(
      CREATE TABLE tenants (id TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE tokens (accessor TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE app_tokens (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL);
      CREATE TABLE audit (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at_ms BIGINT NOT NULL,
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
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        cpu_core_s DOUBLE PRECISION NOT NULL,
        mem_mib_s DOUBLE PRECISION NOT NULL,
        net_in_bytes DOUBLE PRECISION NOT NULL,
        net_out_bytes DOUBLE PRECISION NOT NULL,
        gpu_s DOUBLE PRECISION NOT NULL,
        instance_s DOUBLE PRECISION NOT NULL,
        received_ms BIGINT NOT NULL
      );
      CREATE INDEX usage_by_start ON usage (start_ms);
      CREATE INDEX usage_by_tenant ON usage (tenant, start_ms);
      CREATE TABLE prices (effective TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE usage_daily (
        day_ms BIGINT NOT NULL,
        tenant TEXT NOT NULL,
        cloudlet TEXT NOT NULL,
        cpu_core_s DOUBLE PRECISION NOT NULL,
        mem_mib_s DOUBLE PRECISION NOT NULL,
        net_in_bytes DOUBLE PRECISION NOT NULL,
        net_out_bytes DOUBLE PRECISION NOT NULL,
        gpu_s DOUBLE PRECISION NOT NULL,
        instance_s DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (day_ms, tenant, cloudlet)
      );
    )sql",
    // The registry's change feed, for several cloudletd on one database: every write of a cloudlet
    // takes the next change number (writers hold an advisory lock, so numbers commit in order) and
    // names its writer; a deletion leaves a row in cloudlet_deletions.
    "CREATE SEQUENCE change_seq;\n" + FeedColumns("cloudlets") + DeletionsTable("cloudlet_deletions"),
    // The credentials' change feed: tenants (keys, quotas, disabling), tokens and app tokens
    // (revocations) are numbered and named the same way; none is ever deleted.
    FeedColumns("tenants") + FeedColumns("tokens") + FeedColumns("app_tokens"),
    // Placements shared by several registries: reservations are stored too (confirmed = false, until
    // expires_at_ms), with the CPU and memory they hold so that a reservation can be checked against
    // its cloudlet's capacity in one query; and the same change feed.
    R"sql(
      ALTER TABLE placements ADD COLUMN confirmed BOOLEAN NOT NULL DEFAULT TRUE;
      ALTER TABLE placements ADD COLUMN expires_at_ms BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE placements ADD COLUMN cpu_millis BIGINT NOT NULL DEFAULT 0;
      ALTER TABLE placements ADD COLUMN mem_mb BIGINT NOT NULL DEFAULT 0;
      UPDATE placements SET
        cpu_millis = COALESCE((body::jsonb #>> '{request,app,cpu_millis}')::bigint, 0),
        mem_mb = COALESCE((body::jsonb #>> '{request,app,mem_mb}')::bigint, 0);
      CREATE INDEX placements_by_cloudlet ON placements (cloudlet_id);
    )sql" + FeedColumns("placements") + DeletionsTable("placement_deletions"),
};

Status MigrateLocked(PgConn& conn, const common::Clock& clock) {
  CLOUDLET_RETURN_IF_ERROR(conn.Run(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms BIGINT NOT NULL)"));
  auto current = conn.Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current.ok()) return current.status();
  const int64_t version = current->Int(0, 0);
  if (version > static_cast<int64_t>(kPgMigrations.size())) {
    return Status::FailedPrecondition(conn.where() + ": schema version " + std::to_string(version) +
                                      " is newer than this build understands (" +
                                      std::to_string(kPgMigrations.size()) + "); use a newer cloudletd");
  }
  for (size_t v = static_cast<size_t>(version); v < kPgMigrations.size(); ++v) {
    Status st = conn.InTransaction([&]() -> Status {
      CLOUDLET_RETURN_IF_ERROR(conn.Script(kPgMigrations[v]));
      return conn.Run("INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                      {static_cast<int64_t>(v + 1), common::ToUnixMillis(clock.Now())});
    });
    if (!st.ok()) return st.WithContext("migration to schema version " + std::to_string(v + 1));
  }
  return Status::Ok();
}

}  // namespace

Status MigratePostgres(PgConn& conn, const common::Clock& clock) {
  const std::vector<PgArg> key = {kAdvisoryLockClass, kMigrationLock};
  CLOUDLET_RETURN_IF_ERROR(conn.Run("SELECT pg_advisory_lock($1, $2)", key));
  const Status st = MigrateLocked(conn, clock);
  (void)conn.Run("SELECT pg_advisory_unlock($1, $2)", key);
  return st;
}

int PostgresSchemaVersion() { return static_cast<int>(kPgMigrations.size()); }

}  // namespace cloudlet::store
