#include "pg_conn.h"

#include <poll.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <thread>

namespace cloudlet::store {

using common::Result;
using common::Status;

PgArg::PgArg(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);  // enough digits to read back the same double
  text = buf;
}

std::string PgResult::Text(int row, int col) const {
  const char* v = PQgetvalue(r_.get(), row, col);
  return std::string(v, static_cast<size_t>(PQgetlength(r_.get(), row, col)));
}

int64_t PgResult::Int(int row, int col) const { return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10); }

double PgResult::Double(int row, int col) const { return std::strtod(PQgetvalue(r_.get(), row, col), nullptr); }

std::string PgResult::ErrorField(int field) const {
  const char* v = PQresultErrorField(r_.get(), field);
  return v ? std::string(v) : std::string();
}

int64_t PgResult::Changed() const { return std::strtoll(PQcmdTuples(r_.get()), nullptr, 10); }

std::string RedactPostgresUrl(std::string_view url) {
  std::string s(url);
  // scheme://user:password@host -> scheme://user:***@host
  static const std::regex kAuthority(R"(^([a-z]+://[^/@:]*):[^/@]*@)");
  s = std::regex_replace(s, kAuthority, "$1:***@");
  static const std::regex kParam(R"((password=)[^&\s]*)");
  return std::regex_replace(s, kParam, "$1***");
}

namespace {

std::string Trimmed(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

Result<PgConn> PgConn::Connect(const std::string& url, std::function<Status(PgConn&)> on_connect) {
  const std::string where = RedactPostgresUrl(url);
  PGconn* c = PQconnectdb(url.c_str());
  if (c == nullptr) return Status::Unavailable(where + ": cannot allocate a connection");
  if (PQstatus(c) != CONNECTION_OK) {
    Status st = Status::Unavailable(where + ": cannot connect: " + Trimmed(PQerrorMessage(c)));
    PQfinish(c);
    return st;
  }
  PgConn conn(c, where, std::move(on_connect));
  if (conn.on_connect_) CLOUDLET_RETURN_IF_ERROR(conn.on_connect_(conn));
  return conn;
}

PgConn::PgConn(PgConn&& o) noexcept
    : conn_(o.conn_), where_(std::move(o.where_)), on_connect_(std::move(o.on_connect_)) {
  o.conn_ = nullptr;
}

PgConn::~PgConn() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Status PgConn::EnsureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Status::Unavailable(where_ + ": connection lost and not re-established: " + Trimmed(PQerrorMessage(conn_)));
  }
  return on_connect_ ? on_connect_(*this) : Status::Ok();
}

Result<PgResult> PgConn::Query(std::string_view sql, const std::vector<PgArg>& args) {
  CLOUDLET_RETURN_IF_ERROR(EnsureConnected());
  std::vector<const char*> values;
  values.reserve(args.size());
  for (const auto& a : args) values.push_back(a.text.c_str());
  const std::string text(sql);
  PgResult r(PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                          nullptr, 0));
  CLOUDLET_RETURN_IF_ERROR(Check(r));
  return r;
}

Status PgConn::Script(const std::string& sql) {
  CLOUDLET_RETURN_IF_ERROR(EnsureConnected());
  return Check(PgResult(PQexec(conn_, sql.c_str())));
}

Status PgConn::Check(const PgResult& r) {
  const ExecStatusType st = r.status();
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::Ok();
  const std::string state = r.ErrorField(PG_DIAG_SQLSTATE);
  std::string message = r.ErrorField(PG_DIAG_MESSAGE_PRIMARY);
  if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
  message = where_ + ": " + message + (state.empty() ? "" : " (SQLSTATE " + state + ")");
  // Classes 08 (connection), 53 (resources), 57 (operator intervention, e.g. shutdown) and 40
  // (serialization failure, deadlock) are worth a retry: Unavailable. A lost connection has no
  // SQLSTATE at all.
  const std::string cls = state.substr(0, 2);
  if (state.empty() || PQstatus(conn_) != CONNECTION_OK || cls == "08" || cls == "53" || cls == "57" || cls == "40") {
    return Status::Unavailable(message);
  }
  if (cls == "23") return Status::FailedPrecondition(message);
  return Status::Internal(message);
}

bool PgConn::WaitForNotification(std::chrono::milliseconds limit) {
  if (!EnsureConnected().ok()) return false;
  auto drain = [&] {
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  };
  if (drain()) return true;
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (fd.fd < 0 || ::poll(&fd, 1, static_cast<int>(limit.count())) <= 0) return false;
  if (PQconsumeInput(conn_) == 0) return false;  // the connection broke: PQstatus says so
  return drain();
}

void PgListener::Wait(std::chrono::milliseconds limit) {
  if (!conn_) {
    auto conn = PgConn::Connect(url_, [channel = channel_](PgConn& c) { return c.Run("LISTEN " + channel); });
    if (!conn.ok()) {
      std::this_thread::sleep_for(limit);
      return;
    }
    conn_ = std::make_unique<PgConn>(std::move(*conn));
  }
  conn_->WaitForNotification(limit);
}

Status PgConn::Run(std::string_view sql, const std::vector<PgArg>& args) { return Query(sql, args).status(); }

Status PgConn::InTransaction(const std::function<Status()>& body) {
  CLOUDLET_RETURN_IF_ERROR(Run("BEGIN"));
  Status s = body();
  if (s.ok()) s = Run("COMMIT");
  if (!s.ok() && PQstatus(conn_) == CONNECTION_OK) (void)Run("ROLLBACK");
  return s;
}

}  // namespace cloudlet::store
