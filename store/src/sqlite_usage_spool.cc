// The agent's usage spool: its own small database file.
#include <mutex>


#include <nlohmann/json.hpp>

#include "sqlite_shared.h"

namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

class SqliteUsageSpool final : public metering::UsageSpool {
 public:
  SqliteUsageSpool(LockFile lock, Db db) : lock_(std::move(lock)), db_(std::move(db)) {}

  using metering::UsageSpool::Add;
  Status Add(const std::vector<metering::SpooledRecord>& records, const std::vector<metering::CursorUpdate>& cursors) override {
    std::lock_guard lock(mu_);
    auto insert = db_.Prepare("INSERT INTO spool (event_id, body) VALUES (?1, ?2) ON CONFLICT (event_id) DO NOTHING");
    if (!insert.ok()) return insert.status();
    auto set = db_.Prepare("INSERT INTO cursors (key, body) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET body = excluded.body");
    if (!set.ok()) return set.status();
    auto erase = db_.Prepare("DELETE FROM cursors WHERE key = ?1");
    if (!erase.ok()) return erase.status();
    return InTransaction(db_, [&]() -> Status {
      for (const auto& r : records) CLOUDLET_RETURN_IF_ERROR(insert->Bind(1, r.event_id).Bind(2, r.body.dump()).Run());
      for (const auto& c : cursors) {
        CLOUDLET_RETURN_IF_ERROR(c.body.is_null() ? erase->Bind(1, c.key).Run() : set->Bind(1, c.key).Bind(2, c.body.dump()).Run());
      }
      return Status::Ok();
    });
  }

  Result<std::map<std::string, nlohmann::json>> Cursors() override {
    std::lock_guard lock(mu_);
    auto rows = db_.Prepare("SELECT key, body FROM cursors");
    if (!rows.ok()) return rows.status();
    std::map<std::string, nlohmann::json> out;
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(db_.path());
      if (!*more) break;
      out[rows->Text(0)] = nlohmann::json::parse(rows->Text(1), nullptr, false);
    }
    return out;
  }

  Result<std::vector<metering::SpooledRecord>> Oldest(size_t limit) override {
    std::lock_guard lock(mu_);
    auto rows = db_.Prepare("SELECT event_id, body FROM spool ORDER BY seq LIMIT ?1");
    if (!rows.ok()) return rows.status();
    rows->Bind(1, static_cast<int64_t>(limit));
    std::vector<metering::SpooledRecord> out;
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(db_.path());
      if (!*more) break;
      out.push_back({rows->Text(0), nlohmann::json::parse(rows->Text(1), nullptr, false)});
    }
    return out;
  }

  Status Remove(const std::vector<std::string>& event_ids) override {
    std::lock_guard lock(mu_);
    auto del = db_.Prepare("DELETE FROM spool WHERE event_id = ?1");
    if (!del.ok()) return del.status();
    return InTransaction(db_, [&]() -> Status {
      for (const auto& id : event_ids) CLOUDLET_RETURN_IF_ERROR(del->Bind(1, id).Run());
      return Status::Ok();
    });
  }

  Result<size_t> Size() override {
    std::lock_guard lock(mu_);
    auto rows = db_.Prepare("SELECT COUNT(*) FROM spool");
    if (!rows.ok()) return rows.status();
    auto more = rows->Step();
    if (!more.ok()) return more.status();
    return static_cast<size_t>(rows->Int(0));
  }

 private:
  LockFile lock_;
  Db db_;
  std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<metering::UsageSpool>> OpenSqliteUsageSpool(const std::string& path) {
  auto opened = OpenLockedDb(path);
  if (!opened.ok()) return opened.status();
  auto& [lock, db] = *opened;
  CLOUDLET_RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, "
      "body TEXT NOT NULL)"));
  CLOUDLET_RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS cursors (key TEXT PRIMARY KEY, body TEXT NOT NULL)"));
  return std::unique_ptr<metering::UsageSpool>(new SqliteUsageSpool(std::move(lock), std::move(db)));
}

}  // namespace cloudlet::store
