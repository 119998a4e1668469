// The embedded SQLite implementations of the domain store interfaces, on one database file.
//
//   auto stores = OpenSqliteStores("var/cloudlet.db");   // creates var/ and the schema
//   if (!stores.ok()) { /* message names the file */ }
//   RegistryService registry(clock, options, *stores->registry);
//
// The stores hold an exclusive lock on "<path>.lock" while open: a second process opening the same
// database gets FailedPrecondition. They share one connection; each serialises its transactions on
// it, so the two may be used from different threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cloudlet/auth/credentials.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/registry_store.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/spool.h"
#include "cloudlet/metering/usage.h"
#include "cloudlet/placement/placement_service.h"

namespace cloudlet::store {

// The schema version this build writes; older databases are migrated forward on open, newer
// ones are refused.
int SqliteSchemaVersion();

// Both interfaces of the one SQLite ledger.
class SqliteLedgerStoreBase : public metering::LedgerStore, public metering::PriceStore {};

struct SqliteStores {
  std::unique_ptr<discovery::RegistryStore> registry;
  std::unique_ptr<placement::PlacementStore> placements;
  std::unique_ptr<auth::CredentialStore> credentials;
  std::shared_ptr<SqliteLedgerStoreBase> ledger;  // the usage ledger and the price versions
};

// `clock` stamps when usage was received and migrations applied. A write that finds the database
// locked by another process waits up to `busy_timeout` for it, then fails Unavailable (503).
common::Result<SqliteStores> OpenSqliteStores(const std::string& path, const common::Clock& clock = common::WallClock(),
                                              std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

// The agent's usage spool, in its own small database file (WAL, synchronous=FULL).
common::Result<std::unique_ptr<metering::UsageSpool>> OpenSqliteUsageSpool(const std::string& path);
// The registry's store alone (the placement store is closed).
common::Result<std::unique_ptr<discovery::RegistryStore>> OpenSqliteRegistryStore(
    const std::string& path, const common::Clock& clock = common::WallClock());

}  // namespace cloudlet::store
