// The embedded SQLite implementation of discovery::RegistryStore.
//
//   auto store = OpenSqliteRegistryStore("var/cloudlet.db");   // creates var/ and the schema
//   if (!store.ok()) { /* message names the file */ }
//   RegistryService service(clock, options, **store);
//
// The store holds an exclusive lock on "<path>.lock" while open: a second process opening the same
// database gets FailedPrecondition. Not thread-safe: one user at a time (the registry's writer).
#pragma once

#include <memory>
#include <string>

#include "cloudlet/common/status.h"
#include "cloudlet/discovery/registry_store.h"

namespace cloudlet::store {

// The schema version this build writes; older databases are migrated forward on open, newer
// ones are refused.
int SqliteSchemaVersion();

common::Result<std::unique_ptr<discovery::RegistryStore>> OpenSqliteRegistryStore(const std::string& path);

}  // namespace cloudlet::store
