// cloudletd, whole: the registry, placement, auth and metering wired together over the given
// stores, clock and HTTP server. apps/cloudletd parses flags into a ServerConfig and calls this;
// tests may build the same server in-process with their own adapters. docs/architecture.md follows
// a placement request through what this builds.
//
//   ServerConfig config;                                  // the defaults of cloudletd's flags
//   auto stores = store::OpenSqliteStores(path);
//   auto server = Server::Start(config, {.clock = clock, .stores = StoresOf(*stores), .operator_token = token});
//   if (!server.ok()) { ... }                             // the message names the field or file
//   ...
//   (*server)->Stop();                                    // answers waiting queries, drains, stops workers
//
// Everything passed in must outlive the server. Stop() is for one thread; the server's own threads
// (HTTP, writers, timers) are stopped by it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cloudlet/api/http.h"
#include "cloudlet/auth/credentials.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/registry.h"
#include "cloudlet/discovery/registry_store.h"
#include "cloudlet/dns/responder.h"
#include "cloudlet/dns/udp_server.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/usage.h"
#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/migration.h"
#include "cloudlet/placement/placement_service.h"

namespace cloudlet::server {

// DNS discovery (`cloudletd --dns-listen --dns-zone --dns-subnets`; dns/responder.h says what it answers).
struct DnsConfig {
  dns::UdpServerOptions udp;
  dns::ResponderOptions answers;
  std::string subnets_file;  // CSV of cidr,lat,lon; empty: none
};

struct ServerConfig {
  api::HttpServerOptions http;  // where to listen, body limit, threads, TLS
  discovery::RegistryOptions registry;
  common::Millis drain{10'000};  // on Stop, how long requests in flight may take
  common::Millis lease{30'000};  // how long an unconfirmed placement holds its capacity
  double rate_limit = 50;        // requests per second per token (0: none; operators exempt)
  size_t max_blocking_queries = 4096;  // registry blocking queries waiting at once (503 beyond)
  double rate_burst = 100;
  int bad_token_limit = 20;      // bad tokens from one address within the window before lock-out
  std::chrono::seconds bad_token_window{60};
  placement::EngineParams model;
  placement::MigrationParams migration;
  std::optional<DnsConfig> dns;  // none: no DNS server

  // Errors name the field (registry.heartbeat_ttl, lease, model.synthesis.early_start_fraction, ...).
  common::Status Validate() const;
};

// The store interfaces the server keeps its state in (store/: SQLite).
struct ServerStores {
  discovery::RegistryStore& registry;
  placement::PlacementStore& placements;
  auth::CredentialStore& credentials;
  metering::LedgerStore& ledger;
  metering::PriceStore& prices;
};

using HttpServerFactory =
    std::function<std::unique_ptr<api::HttpServer>(const api::HttpServerOptions& options, api::HttpHandler& handler)>;

struct ServerDeps {
  const common::Clock& clock;
  ServerStores stores;
  std::string operator_token;  // the bootstrap operator token
  HttpServerFactory make_http_server;  // the listener: api::MakeHttpServer in cloudletd, a stand-in in tests
};

class Server {
 public:
  // Loads the stored state, then listens. Unavailable when the port cannot be bound.
  static common::Result<std::unique_ptr<Server>> Start(const ServerConfig& config, ServerDeps deps);
  ~Server();

  void Stop();

  size_t restored_cloudlets() const;  // registered when the server started
  size_t live_placements() const;
  // The DNS server's UDP port (0 without one).
  uint16_t dns_port() const;
  // The routes it serves, as method and pattern (the OpenAPI description must name each).
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Parts;
  explicit Server(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace cloudlet::server
