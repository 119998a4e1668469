// cloudletd: the cloudlet registry (and, as later modules land, placement, auth and metering).
// Parses flags, builds the adapters, wires them, runs until SIGTERM or SIGINT.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "daemon_support.h"
#include "cloudlet/api/http.h"
#include "cloudlet/api/placement_routes.h"
#include "cloudlet/api/registry_routes.h"
#include "cloudlet/api/router.h"
#include "cloudlet/api/auth_routes.h"
#include "cloudlet/api/dashboard.h"
#include "cloudlet/api/usage_routes.h"
#include "cloudlet/auth/token_policy.h"
#include "cloudlet/auth/token.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/host_port.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/usage.h"
#include "cloudlet/discovery/registry_service.h"
#include "cloudlet/metering/metrics.h"
#include "cloudlet/store/sqlite_stores.h"

namespace {

using namespace cloudlet;

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
  if (path.empty()) path = (std::filesystem::path(flags.db).parent_path() / "operator.token").string();
  auto file = auth::LoadOrCreateTokenFile(path, "clo");
  if (!file.ok()) return file.status();
  return Token{file->token, path, file->created};
}

void PrintBanner(const Flags& flags, const Token& token, size_t restored) {
  const std::string url = (flags.tls_cert.empty() ? "http://" : "https://") + flags.listen;
  std::cout << "cloudletd " << CLOUDLET_VERSION << " serving the registry at " << url << "\n"
            << "  database: " << flags.db << " (" << restored << " cloudlet(s) restored)\n";
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

int Run(const Flags& flags) {
  auto listen = common::ParseHostPort(flags.listen, "--listen");
  if (!listen.ok()) return spdlog::error("{}", listen.status().message()), 2;
  discovery::RegistryOptions registry_options;
  for (auto [text, name, out] : {std::tuple{&flags.heartbeat_interval, "--heartbeat-interval", &registry_options.heartbeat_interval},
                                 std::tuple{&flags.heartbeat_ttl, "--heartbeat-ttl", &registry_options.heartbeat_ttl},
                                 std::tuple{&flags.purge_after, "--purge-after", &registry_options.purge_after}}) {
    auto d = common::ParseDuration(*text, name);
    if (!d.ok()) return spdlog::error("{}", d.status().message()), 2;
    *out = *d;
  }
  if (auto s = registry_options.Validate(); !s.ok()) return spdlog::error("--{}", s.message()), 2;
  auto drain = common::ParseDuration(flags.drain, "--drain");
  if (!drain.ok()) return spdlog::error("{}", drain.status().message()), 2;
  auto lease = common::ParseDuration(flags.lease, "--lease");
  if (!lease.ok() || lease->count() <= 0) return spdlog::error("--lease: must be a duration > 0"), 2;
  if (auto s = flags.model.Validate(); !s.ok()) return spdlog::error("{}", s.message()), 2;

  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return spdlog::error("--tls-cert and --tls-key go together"), 2;
  }
  auto bad_token_window = common::ParseDuration(flags.bad_token_window, "--bad-token-window");
  if (!bad_token_window.ok() || bad_token_window->count() < 1000) {
    return spdlog::error("--bad-token-window: must be a duration of 1s or more"), 2;
  }

  auto token = BootstrapToken(flags);
  if (!token.ok()) return spdlog::error("bootstrap token: {}", token.status().message()), 1;
  auto stores = store::OpenSqliteStores(flags.db);
  if (!stores.ok()) return spdlog::error("{}", stores.status().message()), 1;
  common::SystemClock clock;
  auto policy = auth::TokenPolicy::Create(token->value, *stores->credentials, clock);
  if (!policy.ok()) return spdlog::error("{}", policy.status().message()), 1;

  // Signals are handled by sigwait below; every thread started from here on inherits the mask.
  sigset_t signals = apps::BlockStopSignals();

  discovery::RegistryService service(clock, registry_options, *stores->registry);
  if (auto s = service.Start(); !s.ok()) return spdlog::error("{}", s.message()), 1;
  const size_t restored = service.registry().List({}).entries.size();
  api::RegistryFleetSource fleet(service.registry());
  placement::Vivaldi coordinates;
  auth::TokenPolicy& tokens = **policy;
  common::TimerQueue ledger_worker;  // usage ingest, reports and spend, off the HTTP threads
  metering::SharedPriceBook prices;
  api::SpendCache spend;
  placement::PlacementOptions placement_options{.lease = *lease};
  // Quotas: what the tenant holds now, and this month's spend as of the last refresh.
  placement_options.quota = [&tokens, &spend](const std::string& owner, const placement::OwnerUsage& held,
                                              const placement::PlacementRequest& request) -> common::Status {
    auto q = tokens.QuotasOf(owner);
    if (!q) return common::Status::Ok();  // operators hold no quota
    return api::CheckQuotas(owner, *q, static_cast<int64_t>(held.live), held.cpu_millis, request.app.cpu_millis,
                            q->max_monthly_spend ? spend.Of(owner) : 0);
  };
  // Metering of placements themselves: reservation and active time, recorded when one ends.
  metering::LedgerStore& ledger = *stores->ledger;
  placement_options.on_end = [&ledger, &ledger_worker, &tokens](const placement::Placement& p,
                                                                common::TimePoint ended_at) {
    if (!tokens.HasTenant(p.owner)) return;  // an operator's own placement is nobody's bill
    metering::UsageRecord r;
    r.event_id = "placement:" + p.id;
    r.tenant = p.owner;
    r.cloudlet = p.cloudlet_id;
    r.placement_id = p.id;
    r.start = p.created_at;
    r.end = ended_at;
    r.q.instance_s = std::chrono::duration<double>(ended_at - p.created_at).count();
    ledger_worker.Post([&ledger, r] {
      if (auto s = ledger.Append({r}); !s.ok()) spdlog::error("metering: placement {}: {}", r.placement_id, s.status().ToString());
    });
  };
  placement::PlacementService placements(clock, placement::Engine(flags.model),
                                         placement::MigrationAdvisor(flags.migration), fleet, *stores->placements,
                                         coordinates, placement_options);
  if (auto s = placements.Start(); !s.ok()) return spdlog::error("{}", s.message()), 1;

  metering::Metrics metrics;
  common::TimerQueue timers;
  common::TimerQueue admin;  // administration and audit writes, off the HTTP threads
  api::Router router(tokens, tokens, metrics,
                     {.per_token = {.per_second = flags.rate_limit, .burst = flags.rate_burst},
                      .bad_tokens = {.limit = flags.bad_token_limit,
                                     .window = std::chrono::duration_cast<std::chrono::seconds>(*bad_token_window)}});
  api::RegistryRoutesOptions registry_routes;
  registry_routes.audit = [&admin, &tokens](const api::RouteContext& ctx, const std::string& action,
                                            const std::string& target) {
    admin.Post([&tokens, caller = api::CallerOf(ctx), action, target] { tokens.Audit(caller, action, target, ""); });
  };
  api::AddRegistryRoutes(router, service, timers, metrics, registry_routes);
  api::AddPlacementRoutes(router, placements, coordinates, metrics);
  api::AddAuthRoutes(router, tokens, admin);
  api::AddDashboardRoutes(router);
  discovery::Registry& registry = service.registry();
  auto tier_of = [&registry](const std::string& id) {
    auto r = registry.Get(id);
    if (!r.ok()) return std::string();
    auto it = r->descriptor.labels.find("tier");
    return it == r->descriptor.labels.end() ? std::string() : it->second;
  };
  auto usage = api::AddUsageRoutes(router, {.ledger = *stores->ledger, .prices = *stores->ledger, .book = prices,
                                            .worker = ledger_worker, .clock = clock,
                                            .tenant_exists = [&tokens](const std::string& t) { return tokens.HasTenant(t); },
                                            .tier_of = tier_of,
                                            .on_recorded = [&spend] { spend.RefreshSoon(); }});
  if (!usage.ok()) return spdlog::error("{}", usage.message()), 1;
  spend.Start(ledger_worker, ledger, prices, clock, tier_of);
  auto server = api::MakeCpprestServer(
      {listen->host, listen->port, flags.max_body_bytes, flags.http_threads, flags.tls_cert, flags.tls_key}, router);
  if (auto s = server->Start(); !s.ok()) {
    spdlog::error("{}", s.message());
    service.Stop();
    return 1;
  }
  spdlog::info("listening on {} (heartbeat interval {}, ttl {}, purge after {}; {} active placement(s), lease {})",
               flags.listen, common::FormatDuration(registry_options.heartbeat_interval),
               common::FormatDuration(registry_options.heartbeat_ttl), common::FormatDuration(registry_options.purge_after),
               placements.live(), common::FormatDuration(*lease));
  PrintBanner(flags, *token, restored);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}; stopping: answering waiting queries, draining requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  service.registry().FireAllWatches();
  server->Stop(*drain);
  placements.Stop();
  timers.Shutdown();
  admin.Shutdown();
  spend.Stop();
  ledger_worker.Shutdown();
  service.Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "cloudletd: the cloudlet registry and placement service. Cloudlet agents register and heartbeat\n"
      "here; tenants' apps place themselves on cloudlets. State lives in an embedded SQLite database.\n"
      "Every /v1 call needs a token: the first operator token comes from CLOUDLET_BOOTSTRAP_TOKEN, else\n"
      "from --bootstrap-token-file (created with a new random token on first start); operators then\n"
      "create tenants and tokens (`cloudlet tenants`, `cloudlet tokens`; docs/security.md)."};
  apps::AddStandardFlags(app, "cloudletd", CLOUDLET_VERSION);
  app.add_option("--listen", flags.listen, "HOST:PORT to serve HTTP on")->capture_default_str();
  app.add_option("--db", flags.db, "SQLite database file (its directory is created)")->capture_default_str();
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
  app.add_option("--http-threads", flags.http_threads,
                 "Threads serving HTTP requests (0: cpprestsdk's default of 40)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{256}));
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
  model("--model-decompress-mb-s", m.decompress_mb_per_s, "Overlay decompression rate");
  model("--model-apply-mb-s", m.apply_delta_mb_per_s, "Binary delta application rate");
  model("--model-launch-s", m.launch_s, "Time to launch the synthesised VM");
  model("--model-early-start", m.early_start_fraction, "Share of synthesis hidden by early start (0..1)");
  model("--model-base-fetch-overhead-s", m.base_fetch_overhead_s, "Fixed cost of fetching a base VM");
  model("--model-suspect-penalty-ms", m.suspect_penalty_ms, "Added to the cost of a suspect cloudlet");
  model("--model-default-rtt-ms", m.default_rtt_ms, "RTT assumed when nothing better is known");
  model("--migration-downtime-s", flags.migration.downtime_s, "Downtime of one migration");
  model("--migration-margin", flags.migration.margin, "Gain must exceed the cost of moving by this factor");
  model("--migration-min-gain-ms", flags.migration.min_gain_ms, "Per-request gain below which no move is advised");
  apps::AddLogLevelOption(app, flags.log_level);
  if (auto exit_code = apps::ParseFlags(app, argc, argv)) return *exit_code;
  apps::SetUpLogging("cloudletd", flags.log_level);
  return Run(flags);
}
