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
#include "cloudlet/store/stores.h"

namespace cloudlet::store {

// The schema version this build writes; older databases are migrated forward on open, newer
// ones are refused.
int SqliteSchemaVersion();

// The SQLite stores are the general Stores (stores.h); these names stay for the embedded backend's callers.
using SqliteLedgerStoreBase = LedgerAndPrices;
using SqliteStores = Stores;

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
