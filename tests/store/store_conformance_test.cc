// The conformance suite run against the SQLite backend.
#include "cloudlet/store/sqlite_stores.h"
#include "store/backend_stores.h"

namespace cloudlet::testing {
namespace {

StoreBackend SqliteBackend() {
  return {.name = "Sqlite", .open = [](const std::string& where) -> common::Result<OpenStores> {
            return WithSpool(store::OpenSqliteStores(where + "/cloudlet.db"), where + "/spool.db");
          }};
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values(SqliteBackend()),
                         [](const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; });

}  // namespace
}  // namespace cloudlet::testing
