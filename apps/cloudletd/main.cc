// cloudletd: the registry, placement, auth and metering server. Parses flags into a ServerConfig,
// opens the SQLite stores, starts server::Server (server/), runs until SIGTERM or SIGINT.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>
#include <tuple>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "daemon_support.h"
#include "cloudlet/api/http_server.h"
#include "cloudlet/auth/token.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/host_port.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/server/server.h"
#include "cloudlet/store/postgres_stores.h"
#include "cloudlet/store/stores.h"

namespace {

using namespace cloudlet;
using common::Status;

struct Flags {
  std::string listen = "127.0.0.1:8470";
  std::string db = "./var/cloudlet.db";
  std::string heartbeat_interval = "5s";
  std::string heartbeat_ttl = "15s";
  std::string purge_after = "10m";
  std::string bootstrap_token_file;
  size_t max_body_bytes = 1 << 20;
  // Handlers never block (writes go to the writer thread, blocking queries wait on a timer), so a
  // small pool serves best: fewer threads waking each other on a small machine.
  size_t http_threads = std::max<size_t>(4, 2 * std::thread::hardware_concurrency());
  std::string drain = "10s";
  std::string db_busy_timeout = "5s";
  bool db_shared = false;
  std::string request_deadline = "10s";
  std::string http_listener = "beast";
  size_t max_connections = 10'000;
  size_t max_blocking_queries = 4096;
  size_t max_header_bytes = 16 * 1024;
  size_t max_headers = 100;
  std::string log_level = "info";
  std::string lease = "30s";
  double rate_limit = 50;
  double rate_burst = 100;
  int bad_token_limit = 20;
  std::string bad_token_window = "60s";
  std::string tls_cert;
  std::string tls_key;
  placement::EngineParams model;
  placement::MigrationParams migration;
  std::string dns_listen, dns_zone, dns_subnets;
  size_t dns_answers = 3;
  double dns_rate = 100, dns_burst = 200;
  uint32_t dns_ttl_s = 10, dns_placement_ttl_s = 5;
};

struct Token {
  std::string value;
  std::string source;
  bool created = false;
};

common::Result<Token> BootstrapToken(const Flags& flags) {
  if (const char* env = std::getenv("CLOUDLET_BOOTSTRAP_TOKEN"); env && *env) {
    CLOUDLET_RETURN_IF_ERROR(auth::ValidateTokenText(env, "CLOUDLET_BOOTSTRAP_TOKEN"));
    return Token{env, "the CLOUDLET_BOOTSTRAP_TOKEN environment variable", false};
  }
  std::string path = flags.bootstrap_token_file;
  if (path.empty() && store::IsPostgresUrl(flags.db)) {
    return Status::InvalidField("--bootstrap-token-file",
                                "needed with a postgres:// --db (or set CLOUDLET_BOOTSTRAP_TOKEN): there is no "
                                "database directory to keep the operator token beside");
  }
  if (path.empty()) path = (std::filesystem::path(flags.db).parent_path() / "operator.token").string();
  auto file = auth::LoadOrCreateTokenFile(path, "clo");
  if (!file.ok()) return file.status();
  return Token{file->token, path, file->created};
}

void PrintBanner(const Flags& flags, const Token& token, size_t restored) {
  const std::string url = (flags.tls_cert.empty() ? "http://" : "https://") + flags.listen;
  std::cout << "cloudletd " << CLOUDLET_VERSION << " serving the registry at " << url << "\n"
            << "  database: " << store::RedactPostgresUrl(flags.db) << " (" << restored << " cloudlet(s) restored)\n";
  if (token.created) {
    std::cout << "  operator token (new, saved to " << token.source << ", mode 0600):\n    " << token.value << "\n";
  } else {
    std::cout << "  operator token: from " << token.source << "\n";
  }
  const bool from_file = token.source.find("environment") == std::string::npos;
  std::cout << "\nTry, in another terminal:\n"
            << "  export CLOUDLET_REGISTRY=" << url << "\n"
            << (from_file ? "  export CLOUDLET_TOKEN=$(cat " + token.source + ")\n"
                          : std::string("  export CLOUDLET_TOKEN=$CLOUDLET_BOOTSTRAP_TOKEN\n"))
            << "  curl -s -X PUT -H \"Authorization: Bearer $CLOUDLET_TOKEN\" " << url << "/v1/cloudlets/cl-demo \\\n"
            << "       -d '{\"name\":\"Demo\",\"endpoint\":\"http://127.0.0.1:8471\",\"geo\":{\"lat\":40.44,\"lon\":-79.94},"
               "\"capacity\":{\"cpu_millis\":16000,\"mem_mb\":65536},\"isolation\":[\"vm\",\"container\"],\"wan_mbps\":1000}'\n"
            << "  build/bin/cloudlet cloudlets list\n"
            << "  build/bin/cloudlet place --app app.json --geo 40.44,-79.94   # app.json: see README's tour\n"
            << "  curl -s -H \"Authorization: Bearer $CLOUDLET_TOKEN\" " << url << "/v1/cloudlets\n"
            << "  curl -s " << url << "/metrics\n"
            << "Operator dashboard: " << url << "/ui/ (log in with the operator token)\n"
            << "Stop with Ctrl-C.\n"
            << std::endl;
}

// The flag a ServerConfig field is set by, for error messages.
std::string FlagOf(const std::string& field) {
  static const std::map<std::string, std::string> kFlags = {
      {"registry.heartbeat_interval", "--heartbeat-interval"}, {"registry.heartbeat_ttl", "--heartbeat-ttl"},
      {"registry.purge_after", "--purge-after"}, {"lease", "--lease"}, {"bad_token_window", "--bad-token-window"},
      {"http.tls_cert_file", "--tls-cert and --tls-key"}, {"rate_limit", "--rate-limit"},
      {"model.geo.fibre_km_per_ms", "--model-fibre-km-per-ms"}, {"model.geo.path_stretch", "--model-path-stretch"},
      {"model.synthesis.decompress_mb_per_s", "--model-decompress-mb-s"},
      {"model.synthesis.apply_delta_mb_per_s", "--model-apply-mb-s"},
      {"model.synthesis.early_start_fraction", "--model-early-start"}, {"dns.zone", "--dns-zone"},
      {"dns.answers", "--dns-answers"}, {"dns.ttl", "--dns-ttl"}, {"dns.rate_per_source", "--dns-rate"}};
  auto it = kFlags.find(field);
  return it == kFlags.end() ? field : it->second;
}

// The flags as the server's configuration; errors name the flag.
common::Result<server::ServerConfig> ConfigFrom(const Flags& flags) {
  server::ServerConfig c;
  auto listen = common::ParseHostPort(flags.listen, "--listen");
  if (!listen.ok()) return listen.status();
  c.http = {.host = listen->host, .port = listen->port, .max_body_bytes = flags.max_body_bytes,
            .threads = flags.http_threads, .tls_cert_file = flags.tls_cert, .tls_key_file = flags.tls_key,
            .max_header_bytes = flags.max_header_bytes, .max_header_count = flags.max_headers,
            .max_connections = flags.max_connections};
  auto deadline = common::ParseDuration(flags.request_deadline, "--http-request-deadline");
  if (!deadline.ok()) return deadline.status();
  if (deadline->count() <= 0) return Status::InvalidField("--http-request-deadline", "must be a duration > 0");
  c.http.request_deadline = *deadline;
  for (auto [text, name, out] : {std::tuple{&flags.heartbeat_interval, "--heartbeat-interval", &c.registry.heartbeat_interval},
                                 std::tuple{&flags.heartbeat_ttl, "--heartbeat-ttl", &c.registry.heartbeat_ttl},
                                 std::tuple{&flags.purge_after, "--purge-after", &c.registry.purge_after},
                                 std::tuple{&flags.drain, "--drain", &c.drain},
                                 std::tuple{&flags.lease, "--lease", &c.lease}}) {
    auto d = common::ParseDuration(*text, name);
    if (!d.ok()) return d.status();
    *out = *d;
  }
  auto window = common::ParseDuration(flags.bad_token_window, "--bad-token-window");
  if (!window.ok()) return window.status();
  c.bad_token_window = std::chrono::duration_cast<std::chrono::seconds>(*window);
  c.rate_limit = flags.rate_limit;
  c.rate_burst = flags.rate_burst;
  c.max_blocking_queries = flags.max_blocking_queries;
  c.bad_token_limit = flags.bad_token_limit;
  c.model = flags.model;
  c.migration = flags.migration;
  if (flags.dns_listen.empty() != flags.dns_zone.empty()) {
    return Status::InvalidField("--dns-listen", "--dns-listen and --dns-zone go together");
  }
  if (!flags.dns_subnets.empty() && flags.dns_listen.empty()) {
    return Status::InvalidField("--dns-subnets", "needs --dns-listen and --dns-zone");
  }
  if (!flags.dns_listen.empty()) {
    c.dns = server::DnsConfig{
        .udp = {.listen = flags.dns_listen, .rate_per_source = flags.dns_rate, .burst_per_source = flags.dns_burst},
        .answers = {.zone = flags.dns_zone, .answers = flags.dns_answers, .ttl_s = flags.dns_ttl_s,
                    .placement_ttl_s = flags.dns_placement_ttl_s},
        .subnets_file = flags.dns_subnets};
  }
  if (auto s = c.Validate(); !s.ok()) {
    return Status::InvalidField(FlagOf(s.field().value_or("")), s.message().substr(s.field().value_or("").size() + 2));
  }
  return c;
}

int Run(const Flags& flags) {
  auto config = ConfigFrom(flags);
  if (!config.ok()) return spdlog::error("{}", config.status().message()), 2;
  auto token = BootstrapToken(flags);
  if (!token.ok()) return spdlog::error("bootstrap token: {}", token.status().message()), 1;
  auto busy = common::ParseDuration(flags.db_busy_timeout, "--db-busy-timeout");
  if (!busy.ok()) return spdlog::error("{}", busy.status().message()), 2;
  if (flags.db_shared && !store::IsPostgresUrl(flags.db)) {
    return spdlog::error("--db-shared: needs a postgres:// --db (an SQLite file serves one cloudletd)"), 2;
  }
  auto stores = store::IsPostgresUrl(flags.db)
                    ? store::OpenPostgresStores(flags.db, common::WallClock(), {.several_instances = flags.db_shared})
                    : store::OpenStores(flags.db, common::WallClock(), *busy);
  if (!stores.ok()) return spdlog::error("{}", stores.status().message()), 1;

  // Signals are handled by sigwait below; every thread started from here on inherits the mask.
  sigset_t signals = apps::BlockStopSignals();
  common::SystemClock clock;
  auto server = server::Server::Start(
      *config, {.clock = clock,
                .stores = {*stores->registry, *stores->placements, *stores->credentials, *stores->ledger, *stores->ledger},
                .operator_token = token->value,
                .make_http_server = flags.http_listener == "cpprest" ? api::MakeCpprestServer : api::MakeHttpServer});
  if (!server.ok()) return spdlog::error("{}", server.status().message()), 1;
  const auto& c = *config;
  spdlog::info("listening on {} (heartbeat interval {}, ttl {}, purge after {}; {} active placement(s), lease {})",
               flags.listen, common::FormatDuration(c.registry.heartbeat_interval),
               common::FormatDuration(c.registry.heartbeat_ttl), common::FormatDuration(c.registry.purge_after),
               (*server)->live_placements(), common::FormatDuration(c.lease));
  if ((*server)->dns_port()) {
    spdlog::info("dns: try `dig @{} -p {} _cloudlet._tcp.{} SRV`", config->dns->udp.listen.substr(0, config->dns->udp.listen.rfind(':')),
                 (*server)->dns_port(), flags.dns_zone);
  }
  PrintBanner(flags, *token, (*server)->restored_cloudlets());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}; stopping: answering waiting queries, draining requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "cloudletd: the cloudlet registry and placement service. Cloudlet agents register and heartbeat\n"
      "here; tenants' apps place themselves on cloudlets. State lives in an embedded SQLite database, or on\n"
      "a PostgreSQL server (--db postgres://...).\n"
      "Every /v1 call needs a token: the first operator token comes from CLOUDLET_BOOTSTRAP_TOKEN, else\n"
      "from --bootstrap-token-file (created with a new random token on first start); operators then\n"
      "create tenants and tokens (`cloudlet tenants`, `cloudlet tokens`; docs/security.md)."};
  apps::AddStandardFlags(app, "cloudletd", CLOUDLET_VERSION);
  app.add_option("--listen", flags.listen, "HOST:PORT to serve HTTP on")->capture_default_str();
  app.add_option("--db", flags.db,
                 "Where state lives: an SQLite database file (its directory is created), or a PostgreSQL server "
                 "as postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=...] (schema created or migrated on "
                 "start; one cloudletd per database for now; docs/operations.md)")->capture_default_str();
  app.add_flag("--db-shared", flags.db_shared,
               "Share the PostgreSQL --db with other cloudletd: each follows the others' registrations, "
               "placements and credentials, and reservations are decided in the database so that they are "
               "exact across instances (docs/operations.md)");
  app.add_option("--db-busy-timeout", flags.db_busy_timeout,
                 "How long a write waits for the database when another process holds its lock; past it the "
                 "request is answered 503 with Retry-After")
      ->capture_default_str();
  app.add_option("--heartbeat-interval", flags.heartbeat_interval,
                 "How often agents heartbeat; a cloudlet is suspect after 1.5 intervals of silence")
      ->capture_default_str();
  app.add_option("--heartbeat-ttl", flags.heartbeat_ttl, "Silence after which a cloudlet expires")->capture_default_str();
  app.add_option("--purge-after", flags.purge_after, "How long an expired cloudlet is kept before removal")
      ->capture_default_str();
  app.add_option("--bootstrap-token-file", flags.bootstrap_token_file,
                 "Operator token file (default: operator.token beside the database)");
  app.add_option("--max-body-bytes", flags.max_body_bytes, "Largest request body accepted (413 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{64} << 20));
  app.add_option("--http-threads", flags.http_threads, "Threads serving HTTP connections (0: 2)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{256}));
  app.add_option("--http-listener", flags.http_listener,
                 "beast: Boost.Beast, with every limit below; cpprest: the earlier cpprestsdk listener, which "
                 "has none of them (kept to compare; docs/performance.md)")
      ->capture_default_str()->check(CLI::IsMember({"beast", "cpprest"}))->group("HTTP listener limits");
  app.add_option("--http-request-deadline", flags.request_deadline,
                 "Time a client has to send a request's headers and body, from when the server starts "
                 "waiting for it (also the idle time of a kept-alive connection); past it the connection is closed")
      ->capture_default_str()->group("HTTP listener limits");
  app.add_option("--http-max-connections", flags.max_connections,
                 "Connections held at once; past it a new one is answered 503 and closed")
      ->capture_default_str()->check(CLI::Range(size_t{16}, size_t{1'000'000}))->group("HTTP listener limits");
  app.add_option("--max-blocking-queries", flags.max_blocking_queries,
                 "Blocking list queries (?index=&wait=) waiting at once; past it 503 with Retry-After. Each holds a "
                 "connection: keep --http-max-connections and the open-files limit above it")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1'000'000}))->group("HTTP listener limits");
  app.add_option("--http-max-header-bytes", flags.max_header_bytes,
                 "Largest request line and headers together (431 beyond)")
      ->capture_default_str()->check(CLI::Range(size_t{1024}, size_t{1} << 20))->group("HTTP listener limits");
  app.add_option("--http-max-headers", flags.max_headers, "Most headers in one request (431 beyond)")
      ->capture_default_str()->check(CLI::Range(size_t{8}, size_t{10'000}))->group("HTTP listener limits");
  app.add_option("--drain", flags.drain, "On SIGTERM, how long to wait for requests in flight")->capture_default_str();
  app.add_option("--tls-cert", flags.tls_cert, "Serve HTTPS with this certificate chain (PEM); needs --tls-key")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", flags.tls_key, "The private key of --tls-cert (PEM)")->check(CLI::ExistingFile);
  app.add_option("--rate-limit", flags.rate_limit,
                 "Requests per second each tenant, agent or app token may make (0: no limit; operators exempt)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e6));
  app.add_option("--rate-burst", flags.rate_burst, "Requests a token may make at once before --rate-limit applies")
      ->capture_default_str()->check(CLI::Range(1.0, 1e6));
  app.add_option("--bad-token-limit", flags.bad_token_limit,
                 "Bad tokens from one address within --bad-token-window before it is locked out (429)")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--bad-token-window", flags.bad_token_window, "The window of --bad-token-limit")->capture_default_str();
  app.add_option("--lease", flags.lease, "How long an unconfirmed placement holds its capacity")->capture_default_str();
  auto& m = flags.model;
  app.add_option("--cloud-endpoint", m.cloud_endpoint, "The Level-1 cloud offered when no cloudlet meets the SLA");
  app.add_option("--cloud-rtt-ms", m.cloud_rtt_ms, "Typical RTT to that cloud")->capture_default_str();
  const auto model = [&](const char* name, double& value, const char* help) {
    app.add_option(name, value, help)->capture_default_str()->group("Placement model (docs/placement.md)")
        ->check(CLI::Range(0.0, 1e9));
  };
  model("--model-access-ms", m.geo.access_ms, "RTT of the first (wireless) hop");
  model("--model-path-stretch", m.geo.path_stretch, "Real path length over great-circle distance");
  model("--model-fibre-km-per-ms", m.geo.fibre_km_per_ms, "One-way fibre distance per ms");
  model("--model-decompress-mb-s", m.synthesis.decompress_mb_per_s, "Overlay decompression rate");
  model("--model-apply-mb-s", m.synthesis.apply_delta_mb_per_s, "Binary delta application rate");
  model("--model-launch-s", m.synthesis.launch_s, "Time to launch the synthesised VM");
  model("--model-early-start", m.synthesis.early_start_fraction, "Share of synthesis hidden by early start (0..1)");
  model("--model-base-fetch-overhead-s", m.synthesis.base_fetch_overhead_s, "Fixed cost of fetching a base VM");
  model("--model-suspect-penalty-ms", m.suspect_penalty_ms, "Added to the cost of a suspect cloudlet");
  model("--model-default-rtt-ms", m.default_rtt_ms, "RTT assumed when nothing better is known");
  model("--migration-downtime-s", flags.migration.downtime_s, "Downtime of one migration");
  model("--migration-margin", flags.migration.margin, "Gain must exceed the cost of moving by this factor");
  model("--migration-min-gain-ms", flags.migration.min_gain_ms, "Per-request gain below which no move is advised");
  const char* dns = "DNS discovery (docs/client.md)";
  app.add_option("--dns-listen", flags.dns_listen,
                 "ADDR:PORT to answer DNS on (UDP), e.g. 127.0.0.1:8053 (default: no DNS server)")->group(dns);
  app.add_option("--dns-zone", flags.dns_zone,
                 "The zone answered for: _cloudlet._tcp.ZONE SRV lists the nearest cloudlets, <placement>.ZONE "
                 "resolves to a placement's endpoint; other names in it are NXDOMAIN, names outside it REFUSED")->group(dns);
  app.add_option("--dns-subnets", flags.dns_subnets,
                 "CSV of cidr,lat,lon: where clients in each subnet are (from EDNS Client Subnet, else the "
                 "query's source address); unknown clients get the least loaded cloudlets")
      ->check(CLI::ExistingFile)->group(dns);
  app.add_option("--dns-answers", flags.dns_answers, "Cloudlets (SRV records) per _cloudlet._tcp answer")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{10}))->group(dns);
  app.add_option("--dns-ttl", flags.dns_ttl_s, "TTL in seconds of cloudlet answers")
      ->capture_default_str()->check(CLI::Range(0u, 86'400u))->group(dns);
  app.add_option("--dns-placement-ttl", flags.dns_placement_ttl_s,
                 "TTL in seconds of placement answers and of NXDOMAIN (short, so that a migrated app is followed)")
      ->capture_default_str()->check(CLI::Range(0u, 86'400u))->group(dns);
  app.add_option("--dns-rate", flags.dns_rate, "Queries per second answered per source address (0: no limit); "
                 "beyond the burst, queries are dropped")
      ->capture_default_str()->check(CLI::Range(0.0, 1e7))->group(dns);
  app.add_option("--dns-burst", flags.dns_burst, "Queries a source may send at once before --dns-rate applies")
      ->capture_default_str()->check(CLI::Range(1.0, 1e7))->group(dns);
  apps::AddLogLevelOption(app, flags.log_level);
  if (auto exit_code = apps::ParseFlags(app, argc, argv)) return *exit_code;
  apps::SetUpLogging("cloudletd", flags.log_level);
  return Run(flags);
}
