#include "support/postgres_server.h"

#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "support/child_process.h"

namespace cloudlet::testing {
namespace {

const std::string kBin = "/usr/lib/postgresql/15/bin/";
std::string g_last_error;

// A loopback port nothing listens on now.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// The server's own programs run as `postgres` when we are root (PostgreSQL refuses root).
std::vector<std::string> AsServerUser(std::vector<std::string> argv) {
  if (::geteuid() != 0) return argv;
  argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  return argv;
}

bool Ran(const std::vector<std::string>& argv, const std::string& what, std::chrono::seconds limit) {
  const RunResult r = RunCommand(argv, limit);
  if (r.exit_code == 0) return true;
  g_last_error = what + " failed (exit " + std::to_string(r.exit_code) + "): " + r.err + r.out;
  return false;
}

}  // namespace

const char* PostgresServer::WhyUnavailable() {
  for (const char* tool : {"initdb", "pg_ctl", "postgres", "psql"}) {
    if (::access((kBin + tool).c_str(), X_OK) != 0) {
      return "PostgreSQL 15 is not installed (apt-get install postgresql-15; scripts/install-deps does)";
    }
  }
  if (::geteuid() == 0 && ::getpwnam("postgres") == nullptr) return "there is no `postgres` user to run the server as";
  return nullptr;
}

const std::string& PostgresServer::last_error() { return g_last_error; }

std::unique_ptr<PostgresServer> PostgresServer::Start() {
  if (const char* why = WhyUnavailable()) {
    g_last_error = why;
    return nullptr;
  }
  std::unique_ptr<PostgresServer> s(new PostgresServer());
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cloudlet-pg-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    g_last_error = "mkdtemp failed for " + tmpl;
    return nullptr;
  }
  s->dir_ = tmpl;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (::chown(s->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      g_last_error = "cannot hand " + s->dir_ + " to the postgres user";
      return nullptr;
    }
  }
  // --no-sync: a test cluster need not survive a power cut; the server itself keeps fsync on.
  if (!Ran(AsServerUser({kBin + "initdb", "-D", s->dir_ + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8",
                         "--locale=C", "--no-sync"}),
           "initdb", std::chrono::seconds(120))) {
    return nullptr;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (s->StartServer()) return s;
  }
  return nullptr;
}

bool PostgresServer::StartServer() {
  port_ = FreePort();
  return Ran(AsServerUser({kBin + "pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "60", "-o",
                           "-p " + std::to_string(port_) + " -k " + dir_ +
                               " -c listen_addresses=127.0.0.1 -c max_connections=300",
                           "start"}),
             "pg_ctl start", std::chrono::seconds(90));
}

PostgresServer::~PostgresServer() {
  if (dir_.empty()) return;
  if (std::filesystem::exists(dir_ + "/data/postmaster.pid")) {
    (void)RunCommand(AsServerUser({kBin + "pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"}),
                     std::chrono::seconds(60));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PostgresServer::Url(const std::string& name) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

std::optional<std::string> PostgresServer::Psql(const std::string& name, const std::string& sql) {
  const RunResult r = RunCommand({kBin + "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", Url(name), "-c", sql},
                                 std::chrono::seconds(60));
  if (r.exit_code != 0) {
    g_last_error = "psql: " + r.err;
    return std::nullopt;
  }
  return r.out;
}

bool PostgresServer::Restart() {
  return Ran(AsServerUser({kBin + "pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-m", "fast", "-w", "-t",
                           "60", "restart"}),
             "pg_ctl restart", std::chrono::seconds(90));
}

std::string PostgresServer::CreateDatabase(const std::string& name) {
  return Psql("postgres", "CREATE DATABASE \"" + name + "\"") ? Url(name) : std::string();
}

}  // namespace cloudlet::testing
