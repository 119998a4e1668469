// A thin RAII layer over libpq: one connection, parameterised statements, results. Private to
// store/. Not thread-safe: the stores of one connection share it under PgShared::mu.
//
//   auto conn = PgConn::Connect("postgresql://cloudlet@db.example/cloudlet");
//   auto rows = conn->Query("SELECT body FROM tenants WHERE id = $1", {id});
//
// Every value travels as text in a separate parameter (never spliced into SQL). Errors name the
// server by its URL with any password removed. A lost connection is reset on the next call.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cloudlet/common/status.h"
#include "cloudlet/store/postgres_stores.h"

namespace cloudlet::store {

// One parameter's text (numbers in a form PostgreSQL reads back exactly).
struct PgArg {
  PgArg(std::string_view v) : text(v) {}  // NOLINT: implicit by design, as in a call's argument list
  PgArg(const char* v) : text(v) {}       // NOLINT
  PgArg(const std::string& v) : text(v) {}  // NOLINT
  PgArg(int64_t v) : text(std::to_string(v)) {}  // NOLINT
  PgArg(int v) : text(std::to_string(v)) {}      // NOLINT
  PgArg(double v);                               // NOLINT
  std::string text;
};

class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  int columns() const { return PQnfields(r_.get()); }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Text(int row, int col) const;
  int64_t Int(int row, int col) const;
  double Double(int row, int col) const;
  // Rows an INSERT, UPDATE or DELETE changed.
  int64_t Changed() const;
  ExecStatusType status() const { return PQresultStatus(r_.get()); }
  // A field of the error (PG_DIAG_SQLSTATE, PG_DIAG_MESSAGE_PRIMARY, ...), "" when absent.
  std::string ErrorField(int field) const;

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

class PgConn {
 public:
  // `on_connect` runs after the first connection and after every reset (session settings, locks).
  static common::Result<PgConn> Connect(const std::string& url, std::function<common::Status(PgConn&)> on_connect = {});
  PgConn(PgConn&& o) noexcept;
  PgConn& operator=(PgConn&&) = delete;
  ~PgConn();

  // One statement; rows for a SELECT (or RETURNING). Unavailable when the server cannot be reached
  // (a 503 upstream), Internal for an error in the statement, FailedPrecondition for a violated
  // constraint.
  common::Result<PgResult> Query(std::string_view sql, const std::vector<PgArg>& args = {});
  common::Status Run(std::string_view sql, const std::vector<PgArg>& args = {});
  // Several statements without parameters (a migration's script).
  common::Status Script(const std::string& sql);
  // Runs `body` in one transaction: committed if it succeeds, rolled back if not.
  common::Status InTransaction(const std::function<common::Status()>& body);
  // Waits up to `limit` for a notification on a channel this connection LISTENs to (drains every one
  // that arrived); false on timeout or a broken connection (reset on the next call).
  bool WaitForNotification(std::chrono::milliseconds limit);
  // The server's URL without its password, for messages and logs.
  const std::string& where() const { return where_; }

 private:
  PgConn(PGconn* c, std::string where, std::function<common::Status(PgConn&)> on_connect)
      : conn_(c), where_(std::move(where)), on_connect_(std::move(on_connect)) {}
  common::Status EnsureConnected();
  common::Status Check(const PgResult& r);

  PGconn* conn_ = nullptr;
  std::string where_;
  std::function<common::Status(PgConn&)> on_connect_;
};


// A connection of its own that LISTENs on one channel (re-LISTENing after a reconnect), for a
// follower thread to wait on without holding the stores' connection.
class PgListener {
 public:
  PgListener(std::string url, std::string channel) : url_(std::move(url)), channel_(std::move(channel)) {}
  // Returns when a notification arrives on the channel, or after `limit` (also when the server
  // cannot be reached: the caller reads the changes anyway).
  void Wait(std::chrono::milliseconds limit);

 private:
  std::string url_, channel_;
  std::unique_ptr<PgConn> conn_;
};

}  // namespace cloudlet::store
