// The conformance suite run against the SQLite backend.
#include "cloudlet/store/sqlite_stores.h"
#include "store/store_conformance.h"

namespace cloudlet::testing {
namespace {

StoreBackend SqliteBackend() {
  return {.name = "Sqlite", .open = [](const std::string& where) -> common::Result<OpenStores> {
            auto stores = store::OpenSqliteStores(where + "/cloudlet.db");
            if (!stores.ok()) return stores.status();
            auto spool = store::OpenSqliteUsageSpool(where + "/spool.db");
            if (!spool.ok()) return spool.status();
            auto owned = std::make_shared<store::SqliteStores>(std::move(*stores));
            return OpenStores{.keep_alive = owned,
                              .registry = owned->registry.get(),
                              .placements = owned->placements.get(),
                              .credentials = owned->credentials.get(),
                              .ledger = owned->ledger.get(),
                              .prices = owned->ledger.get(),
                              .spool = std::move(*spool)};
          }};
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values(SqliteBackend()),
                         [](const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; });

}  // namespace
}  // namespace cloudlet::testing
