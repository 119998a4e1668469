// OpenStores: the backend named by `--db`.
#include "cloudlet/store/stores.h"

#include "cloudlet/store/postgres_stores.h"
#include "cloudlet/store/sqlite_stores.h"

namespace cloudlet::store {

bool IsPostgresUrl(std::string_view db) { return db.starts_with("postgres://") || db.starts_with("postgresql://"); }

common::Result<Stores> OpenStores(const std::string& db, const common::Clock& clock,
                                  std::chrono::milliseconds busy_timeout) {
  if (IsPostgresUrl(db)) return OpenPostgresStores(db, clock);
  return OpenSqliteStores(db, clock, busy_timeout);
}

}  // namespace cloudlet::store
