// Opening the registry's database: directory, lock file, WAL, migrations, then the stores on one
// shared connection.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "sqlite_shared.h"

namespace cloudlet::store {

using common::Result;
using common::Status;

Result<LockFile> LockFile::Acquire(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable(path + ": cannot open lock file: " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Status::FailedPrecondition(path + ": the database is in use by another cloudletd");
  }
  return LockFile(fd);
}

LockFile::~LockFile() {
  if (fd_ >= 0) ::close(fd_);
}

// Runs `body` in one IMMEDIATE transaction: committed if it succeeds, rolled back if not.
Status InTransaction(Db& db, const std::function<Status()>& body) {
  CLOUDLET_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE").WithContext(db.path()));
  Status s = body();
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s.WithContext(db.path());
  }
  return Status::Ok();
}

Result<LockedDb> OpenLockedDb(const std::string& path, std::chrono::milliseconds busy_timeout) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::exists(parent)) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return Status::Unavailable(parent.string() + ": cannot create directory: " + ec.message());
    fs::permissions(parent, fs::perms::owner_all, ec);  // the database holds tenants' data
  }
  auto lock = LockFile::Acquire(path + ".lock");
  if (!lock.ok()) return lock.status();
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  ::chmod(path.c_str(), 0600);
  CLOUDLET_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout.count())));
  auto mode = db->Prepare("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.status();
  auto row = mode->Step();
  if (!row.ok()) return row.status().WithContext(path);
  const bool wal = mode->Text(0) == "wal";
  mode->Reset();
  if (!wal) return Status::Unavailable(path + ": cannot switch the journal to WAL mode");
  // FULL: a commit is on disk before it is acknowledged.
  CLOUDLET_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL"));
  return LockedDb{std::move(*lock), std::move(*db)};
}

Result<SqliteStores> OpenSqliteStores(const std::string& path, const common::Clock& clock,
                                      std::chrono::milliseconds busy_timeout) {
  auto opened = OpenLockedDb(path, busy_timeout);
  if (!opened.ok()) return opened.status();
  auto& [lock, db] = *opened;
  CLOUDLET_RETURN_IF_ERROR(Migrate(db, clock));
  auto shared = std::make_shared<SharedDb>(std::move(lock), std::move(db), clock);
  auto registry = MakeSqliteRegistryStore(shared);
  if (!registry.ok()) return registry.status();
  SqliteStores out;
  out.registry = std::move(*registry);
  out.placements = MakeSqlitePlacementStore(shared);
  out.credentials = MakeSqliteCredentialStore(shared);
  out.ledger = MakeSqliteLedgerStore(shared);
  return out;
}

Result<std::unique_ptr<discovery::RegistryStore>> OpenSqliteRegistryStore(const std::string& path,
                                                                          const common::Clock& clock) {
  auto stores = OpenSqliteStores(path, clock);
  if (!stores.ok()) return stores.status();
  return std::move(stores->registry);
}
}  // namespace cloudlet::store
