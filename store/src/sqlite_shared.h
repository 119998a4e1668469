// What the SQLite stores of one database share, and the factories OpenSqliteStores wires together.
// Private to store/. Each store lives in its own file (sqlite_<store>.cc); the schema and its
// migrations in sqlite_migrations.cc.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "cloudlet/store/sqlite_stores.h"
#include "sqlite_db.h"

namespace cloudlet::store {

// An exclusive advisory lock (flock) on a file, held for the owner's lifetime.
class LockFile {
 public:
  // FailedPrecondition when another process holds it.
  static common::Result<LockFile> Acquire(const std::string& path);
  LockFile(LockFile&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LockFile& operator=(LockFile&&) = delete;
  ~LockFile();

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_;
};

// One connection and its lock file, shared by the stores of one database. Each store takes `mu`
// for a whole transaction, so stores used from different threads never interleave statements.
struct SharedDb {
  SharedDb(LockFile l, Db d, const common::Clock& c) : lock(std::move(l)), db(std::move(d)), clock(c) {}
  LockFile lock;
  Db db;
  const common::Clock& clock;
  std::mutex mu;
};

// A database file opened for one owner: its directory made (0700), the file 0600, an exclusive
// lock beside it, WAL and synchronous=FULL.
struct LockedDb {
  LockFile lock;
  Db db;
};
common::Result<LockedDb> OpenLockedDb(const std::string& path,
                                     std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

// Runs `body` in one IMMEDIATE transaction: committed if it succeeds, rolled back if not.
common::Status InTransaction(Db& db, const std::function<common::Status()>& body);

// Brings the schema to SqliteSchemaVersion(); refuses a newer one.
common::Status Migrate(Db& db, const common::Clock& clock);

common::Result<std::unique_ptr<discovery::RegistryStore>> MakeSqliteRegistryStore(std::shared_ptr<SharedDb> shared);
std::unique_ptr<placement::PlacementStore> MakeSqlitePlacementStore(std::shared_ptr<SharedDb> shared);
std::unique_ptr<auth::CredentialStore> MakeSqliteCredentialStore(std::shared_ptr<SharedDb> shared);
std::shared_ptr<SqliteLedgerStoreBase> MakeSqliteLedgerStore(std::shared_ptr<SharedDb> shared);

}  // namespace cloudlet::store
