// Opening the PostgreSQL stores: connect, take the instance lock, migrate, then the stores on one
// shared connection.
#include <algorithm>
#include <cstdio>
#include <random>

#include "pg_shared.h"

namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

std::string NewWriterId() {
  std::random_device entropy;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", entropy(), entropy());
  return buf;
}

// This process's claim on the database: one cloudletd per database for now.
Status ClaimInstance(PgConn& c) {
  auto got = c.Query("SELECT pg_try_advisory_lock($1, $2)", {kAdvisoryLockClass, kInstanceLock});
  if (!got.ok()) return got.status();
  if (got->Text(0, 0) == "t") return Status::Ok();
  return Status::FailedPrecondition(c.where() +
                                    ": the database is in use by another cloudletd (one instance per database for "
                                    "now; docs/operations.md)");
}

}  // namespace

PgShared::PgShared(PgConn c, const common::Clock& clk, std::string u, PostgresOptions o)
    : conn(std::move(c)), clock(clk), url(std::move(u)), options(o), writer(NewWriterId()) {}

Status InSnapshot(PgConn& conn, const std::function<Status()>& body) {
  CLOUDLET_RETURN_IF_ERROR(conn.Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  Status s = body();
  if (s.ok()) s = conn.Run("COMMIT");
  if (!s.ok()) (void)conn.Run("ROLLBACK");
  return s;
}

Status ForEachChange(PgShared& shared, const std::string& columns, const std::string& table, uint64_t& cursor,
                     const std::function<Status(const PgResult& rows, int i)>& row) {
  auto rows = shared.conn.Query("SELECT " + columns + ", change_seq, writer FROM " + table +
                                    " WHERE change_seq > $1 ORDER BY change_seq",
                                {static_cast<int64_t>(cursor)});
  if (!rows.ok()) return rows.status();
  const int seq = rows->columns() - 2, writer = rows->columns() - 1;
  uint64_t last = cursor;
  for (int i = 0; i < rows->rows(); ++i) {
    last = std::max<uint64_t>(last, rows->Int(i, seq));
    if (rows->Text(i, writer) == shared.writer) continue;  // this process's own: its memory has it
    CLOUDLET_RETURN_IF_ERROR(row(*rows, i));
  }
  cursor = last;
  return Status::Ok();
}

Result<Stores> OpenPostgresStores(const std::string& url, const common::Clock& clock, PostgresOptions options) {
  // On every (re)connection: UTC for the ledger's days, quiet notices and, once made, the claim on
  // the database.
  auto claimed = std::make_shared<bool>(false);
  auto on_connect = [claimed](PgConn& c) -> Status {
    CLOUDLET_RETURN_IF_ERROR(c.Run("SET TIME ZONE 'UTC'"));
    CLOUDLET_RETURN_IF_ERROR(c.Run("SET client_min_messages TO warning"));  // no NOTICE chatter on stderr
    return *claimed ? ClaimInstance(c) : Status::Ok();
  };
  auto conn = PgConn::Connect(url, on_connect);
  if (!conn.ok()) return conn.status();
  CLOUDLET_RETURN_IF_ERROR(MigratePostgres(*conn, clock));
  if (!options.several_instances) {
    CLOUDLET_RETURN_IF_ERROR(ClaimInstance(*conn));
    *claimed = true;
  }
  auto shared = std::make_shared<PgShared>(std::move(*conn), clock, url, options);
  Stores out;
  out.registry = MakePgRegistryStore(shared);
  out.placements = MakePgPlacementStore(shared);
  out.credentials = MakePgCredentialStore(shared);
  out.ledger = MakePgLedgerStore(shared);
  return out;
}

}  // namespace cloudlet::store
