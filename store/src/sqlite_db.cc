#include "sqlite_db.h"

namespace cloudlet::store {

using common::Status;

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = o.stmt_;
    o.stmt_ = nullptr;
  }
  return *this;
}

Statement& Statement::Bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::Bind(int i, double v) {
  sqlite3_bind_double(stmt_, i, v);
  return *this;
}

common::Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Status::Unavailable(std::string("sqlite: ") + sqlite3_errmsg(db_));
}

Status Statement::Run() {
  common::Result<bool> r = false;
  do {
    r = Step();
  } while (r.ok() && *r);
  Reset();
  return r.status();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

common::Result<Db> Db::Open(const std::string& path) {
  Db db;
  db.path_ = path;
  const int rc = sqlite3_open_v2(path.c_str(), &db.db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return Status::Unavailable(path + ": cannot open database: " +
                               (db.db_ ? sqlite3_errmsg(db.db_) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(db.db_, 1);
  return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

Status Db::Error(std::string_view what) const {
  return Status::Unavailable(path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status Db::Exec(std::string_view sql) {
  char* err = nullptr;
  const std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    Status st = Status::Unavailable(path_ + ": " + (err ? err : "sqlite error"));
    sqlite3_free(err);
    return st;
  }
  return Status::Ok();
}

common::Result<Statement> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
      SQLITE_OK) {
    return Error("prepare");
  }
  return Statement(db_, stmt);
}

}  // namespace cloudlet::store
