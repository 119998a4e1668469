// A real PostgreSQL 15 server for tests: a fresh cluster made by initdb in a temporary directory,
// started with pg_ctl on a free loopback port (never as a system service), stopped and removed when
// the object goes away. As root, the server runs as the `postgres` user (runuser), as PostgreSQL
// refuses root.
//
//   CLOUDLET_REQUIRE_POSTGRES();                        // skips (or fails in CI) without PostgreSQL 15
//   auto pg = PostgresServer::Start();
//   ASSERT_TRUE(pg) << PostgresServer::last_error();
//   std::string url = pg->CreateDatabase("conformance");   // postgresql://postgres@127.0.0.1:PORT/conformance
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "support/netns_lab.h"

namespace cloudlet::testing {

class PostgresServer {
 public:
  // Why a server cannot be started here (PostgreSQL 15's binaries missing, or no `postgres` user as
  // root), or nullptr.
  static const char* WhyUnavailable();
  // A running server, or null with last_error() saying why (initdb's or pg_ctl's own words).
  static std::unique_ptr<PostgresServer> Start();
  static const std::string& last_error();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // The URL of database `name` on this server (not created by this call).
  std::string Url(const std::string& name = "postgres") const;
  // Creates database `name` and returns its URL; "" on failure (reason in last_error()).
  std::string CreateDatabase(const std::string& name);
  // Runs one statement with psql against database `name`; its output, or std::nullopt on failure.
  std::optional<std::string> Psql(const std::string& name, const std::string& sql);
  // Stops the server (fast: open connections are closed) and starts it again on the same port.
  bool Restart();
 private:
  PostgresServer() = default;
  bool StartServer();
  std::string dir_;
  int port_ = 0;
};

}  // namespace cloudlet::testing

#define CLOUDLET_REQUIRE_POSTGRES()                                                                  \
  do {                                                                                               \
    if (const char* why = ::cloudlet::testing::PostgresServer::WhyUnavailable()) {                   \
      if (::cloudlet::testing::NetnsLab::Required()) FAIL() << "CLOUDLET_REQUIRE_NETNS=1, but " << why; \
      GTEST_SKIP() << why;                                                                           \
    }                                                                                                \
  } while (0)
