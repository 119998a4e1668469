// A backend's opened stores, with the agent's spool beside them, as the conformance suite's
// OpenStores (store_conformance.h). The spool is a local SQLite file whatever the registry's backend.
#pragma once

#include <memory>
#include <string>

#include "cloudlet/store/sqlite_stores.h"
#include "cloudlet/store/stores.h"
#include "store/store_conformance.h"

namespace cloudlet::testing {

inline common::Result<OpenStores> WithSpool(common::Result<store::Stores> stores, const std::string& spool_path) {
  if (!stores.ok()) return stores.status();
  auto spool = store::OpenSqliteUsageSpool(spool_path);
  if (!spool.ok()) return spool.status();
  auto owned = std::make_shared<store::Stores>(std::move(*stores));
  return OpenStores{.keep_alive = owned,
                    .registry = owned->registry.get(),
                    .placements = owned->placements.get(),
                    .credentials = owned->credentials.get(),
                    .ledger = owned->ledger.get(),
                    .prices = owned->ledger.get(),
                    .spool = std::move(*spool)};
}

}  // namespace cloudlet::testing
