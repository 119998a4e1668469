// A thin RAII layer over sqlite3: a connection and prepared statements. Private to store/.
// Not thread-safe.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::store {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept;

  Statement& Bind(int i, std::string_view v);
  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, double v);
  // SQLITE_ROW -> true, SQLITE_DONE -> false; an error becomes the status.
  common::Result<bool> Step();
  common::Status Run();  // steps to completion, then resets
  void Reset();
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Db {
 public:
  static common::Result<Db> Open(const std::string& path);
  Db() = default;
  ~Db();
  Db(Db&& o) noexcept : db_(o.db_), path_(std::move(o.path_)) { o.db_ = nullptr; }
  Db& operator=(Db&&) = delete;

  common::Status Exec(std::string_view sql);
  common::Result<Statement> Prepare(std::string_view sql);
  const std::string& path() const { return path_; }
  common::Status Error(std::string_view what) const;
  // Rows the last INSERT, UPDATE or DELETE changed.
  int64_t Changes() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace cloudlet::store
