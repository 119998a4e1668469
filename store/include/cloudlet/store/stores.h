// The registry's stores, on whichever backend `--db` names: a file path is the embedded SQLite
// database, a postgres:// or postgresql:// URL a PostgreSQL server.
//
//   auto stores = OpenStores(flags.db);   // creates the file (or the schema) when new
//   if (!stores.ok()) { /* the message names the file or the server, never a password */ }
//   RegistryService registry(clock, options, *stores->registry);
//
// Every backend passes the same conformance suite (tests/store/store_conformance.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "cloudlet/auth/credentials.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/registry_store.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/usage.h"
#include "cloudlet/placement/placement_service.h"

namespace cloudlet::store {

// Both interfaces of one usage ledger.
class LedgerAndPrices : public metering::LedgerStore, public metering::PriceStore {};

struct Stores {
  std::unique_ptr<discovery::RegistryStore> registry;
  std::unique_ptr<placement::PlacementStore> placements;
  std::unique_ptr<auth::CredentialStore> credentials;
  std::shared_ptr<LedgerAndPrices> ledger;  // the usage ledger and the price versions
};

// True for a postgres:// or postgresql:// URL.
bool IsPostgresUrl(std::string_view db);

// `clock` stamps when usage was received and migrations applied. SQLite: a write that finds the
// file locked by another process waits up to `busy_timeout`, then fails Unavailable (503).
common::Result<Stores> OpenStores(const std::string& db, const common::Clock& clock = common::WallClock(),
                                  std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

}  // namespace cloudlet::store
