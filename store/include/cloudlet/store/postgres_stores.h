// The PostgreSQL implementations of the domain store interfaces, on one server.
//
//   auto stores = OpenPostgresStores("postgresql://cloudlet@db.internal/cloudlet");
//   if (!stores.ok()) { /* Unavailable: the server is not reachable; the message hides the password */ }
//
// Opening brings the schema to PostgresSchemaVersion() under an advisory lock, so several processes
// starting at once apply each migration exactly once; a newer schema is refused. The stores share
// one connection (each store serialises its calls on it) and reconnect when it is lost: a call that
// finds the server gone fails Unavailable (503), the next one tries again.
//
// By default one cloudletd per database: the stores hold a session advisory lock, and a second
// process opening the same database gets FailedPrecondition. With several_instances (cloudletd
// --db-shared) any number share it: the registry, placement and credential stores then report what
// the others change and placement reservations are decided in the database (docs/operations.md).
#pragma once

#include <string>
#include <string_view>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "cloudlet/store/stores.h"

namespace cloudlet::store {

int PostgresSchemaVersion();

struct PostgresOptions {
  // Share the database with other registries: no claim on it; the stores report what the others
  // change (ChangesSince, woken by LISTEN/NOTIFY) and PlacementStore::Reserve decides reservations.
  bool several_instances = false;
};

// `url`: any libpq connection URI (postgresql://user:password@host:port/dbname?sslmode=...).
common::Result<Stores> OpenPostgresStores(const std::string& url, const common::Clock& clock = common::WallClock(),
                                          PostgresOptions options = {});

// `url` with its password (in the authority, or a password= parameter) replaced by "***": what
// messages and logs show.
std::string RedactPostgresUrl(std::string_view url);

}  // namespace cloudlet::store
