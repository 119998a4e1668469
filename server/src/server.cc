#include "cloudlet/server/server.h"

#include <thread>

#include <spdlog/spdlog.h>

#include "cloudlet/api/auth_routes.h"
#include "cloudlet/api/dashboard.h"
#include "cloudlet/api/openapi.h"
#include "cloudlet/api/placement_routes.h"
#include "cloudlet/api/registry_routes.h"
#include "cloudlet/api/router.h"
#include "cloudlet/api/usage_routes.h"
#include "cloudlet/auth/token_policy.h"
#include "cloudlet/common/follow_thread.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/discovery/registry_service.h"
#include "cloudlet/metering/metrics.h"
#include "cloudlet/metering/quotas.h"
#include "cloudlet/placement/vivaldi.h"
#include "cloudlet/server/fleet_source.h"
#include "dns_directory.h"

namespace cloudlet::server {

using common::Result;
using common::Status;

Status ServerConfig::Validate() const {
  if (auto s = registry.Validate(); !s.ok()) return s.InParent("registry");
  if (lease.count() <= 0) return Status::InvalidField("lease", "must be a duration > 0");
  if (auto s = model.Validate(); !s.ok()) return s.InParent("model");
  if (http.tls_cert_file.empty() != http.tls_key_file.empty()) {
    return Status::InvalidField("http.tls_cert_file", "a certificate and its key go together");
  }
  if (bad_token_window < std::chrono::seconds(1)) return Status::InvalidField("bad_token_window", "must be 1s or more");
  if (!(rate_limit >= 0) || !(rate_burst >= 1)) return Status::InvalidField("rate_limit", "must be >= 0, with a burst >= 1");
  if (dns) {
    if (auto s = dns->answers.Validate(); !s.ok()) return s.InParent("dns");
    if (!(dns->udp.rate_per_source >= 0) || !(dns->udp.burst_per_source >= 1)) {
      return Status::InvalidField("dns.rate_per_source", "must be >= 0, with a burst >= 1");
    }
  }
  return Status::Ok();
}

// What one cloudletd is made of, in the order it is built; torn down in reverse after Stop().
struct Server::Parts {
  Parts(const ServerConfig& c, ServerDeps d) : config(c), deps(std::move(d)) {}

  ServerConfig config;
  ServerDeps deps;
  std::unique_ptr<auth::TokenPolicy> tokens;
  std::unique_ptr<discovery::RegistryService> registry;
  std::unique_ptr<RegistryFleetSource> fleet;
  placement::Vivaldi coordinates;
  placement::ProvisionObservations observed;  // learned per cloudlet from agents' reports
  common::TimerQueue ledger_worker;  // usage ingest, reports and spend, off the HTTP threads
  metering::SharedPriceBook prices;
  metering::SpendCache spend;
  std::unique_ptr<placement::PlacementService> placements;
  metering::Metrics metrics;
  common::TimerQueue timers;  // blocking queries' deadlines
  common::TimerQueue admin;   // administration and audit writes, off the HTTP threads
  std::unique_ptr<api::Router> router;
  std::unique_ptr<api::HttpServer> http;
  std::optional<dns::SubnetMap> subnets;
  std::unique_ptr<RegistryDnsDirectory> dns_directory;
  std::unique_ptr<dns::DnsResponder> dns_responder;
  std::unique_ptr<dns::DnsUdpServer> dns_server;
  size_t restored = 0;
  bool registry_started = false, placements_started = false, stopped = false;
  // A store shared with other cloudletd: their price versions, reloaded every second. Last: stopped first.
  std::unique_ptr<common::FollowThread> price_follow;

  Status BuildRegistryAndPlacement();
  Status BuildRoutes();
  Status StartDns();
  // The cloudlet's `tier` label, for prices with per-tier overrides.
  std::string TierOf(const std::string& cloudlet) const;
};

Status Server::Parts::BuildRegistryAndPlacement() {
  auto policy = auth::TokenPolicy::Create(deps.operator_token, deps.stores.credentials, deps.clock);
  if (!policy.ok()) return policy.status();
  tokens = std::move(*policy);
  registry = std::make_unique<discovery::RegistryService>(deps.clock, config.registry, deps.stores.registry);
  CLOUDLET_RETURN_IF_ERROR(registry->Start());
  registry_started = true;
  restored = registry->registry().List({}).entries.size();
  fleet = std::make_unique<RegistryFleetSource>(registry->registry(), deps.clock, common::Millis(100), &observed);

  placement::PlacementOptions options{.lease = config.lease};
  // Quotas: what the tenant holds now, and this month's spend as of the last refresh.
  options.quota = [this](const std::string& owner, const placement::OwnerUsage& held,
                         const placement::PlacementRequest& request) -> Status {
    auto q = tokens->QuotasOf(owner);
    if (!q) return Status::Ok();  // operators hold no quota
    return metering::CheckQuotas(owner, *q, static_cast<int64_t>(held.live), held.cpu_millis, request.app.cpu_millis,
                                 q->max_monthly_spend ? spend.Of(owner) : 0);
  };
  // Placements are metered themselves: reservation and active time, recorded when one ends.
  options.on_end = [this](const placement::Placement& p, common::TimePoint ended_at) {
    if (!tokens->HasTenant(p.owner)) return;  // an operator's own placement is nobody's bill
    const metering::UsageRecord r = metering::InstanceUsage(p.id, p.owner, p.cloudlet_id, p.created_at, ended_at);
    ledger_worker.Post([this, r] {
      if (auto s = deps.stores.ledger.Append({r}); !s.ok()) {
        spdlog::error("metering: placement {}: {}", r.placement_id, s.status().ToString());
      }
    });
  };
  // What agents measure when they provision teaches the engine each cloudlet's real figures.
  options.on_provisioned = [this](const placement::Placement& p, const placement::ProvisionReport& r) {
    observed.Observe(p.cloudlet_id, r);
    spdlog::info("placement {}: running on {} after {:.2f} s ({}, {} bytes)", p.id, p.cloudlet_id, r.seconds,
                 placement::ProvisionModeName(r.mode), r.bytes);
  };
  placements = std::make_unique<placement::PlacementService>(
      deps.clock, placement::Engine(config.model), placement::MigrationAdvisor(config.migration), *fleet,
      deps.stores.placements, coordinates, options);
  CLOUDLET_RETURN_IF_ERROR(placements->Start());
  placements_started = true;
  return Status::Ok();
}

std::string Server::Parts::TierOf(const std::string& cloudlet) const {
  auto r = registry->registry().Get(cloudlet);
  if (!r.ok()) return {};
  auto it = r->descriptor.labels.find("tier");
  return it == r->descriptor.labels.end() ? std::string() : it->second;
}

Status Server::Parts::BuildRoutes() {
  router = std::make_unique<api::Router>(
      *tokens, *tokens, metrics,
      api::RouterLimits{.per_token = {.per_second = config.rate_limit, .burst = config.rate_burst},
                        .bad_tokens = {.limit = config.bad_token_limit, .window = config.bad_token_window}});
  api::RegistryRoutesOptions registry_routes;
  registry_routes.max_blocking_queries = config.max_blocking_queries;
  registry_routes.audit = [this](const api::RouteContext& ctx, const std::string& action, const std::string& target) {
    admin.Post([this, caller = api::CallerOf(ctx), action, target] { tokens->Audit(caller, action, target, ""); });
  };
  api::AddRegistryRoutes(*router, *registry, timers, metrics, registry_routes);
  api::AddPlacementRoutes(*router, *placements, coordinates, metrics, timers,
                          {.default_wait = registry_routes.default_wait, .max_wait = registry_routes.max_wait,
                           .max_waiting = registry_routes.max_blocking_queries});
  api::AddAuthRoutes(*router, *tokens, admin);
  api::AddDashboardRoutes(*router);
  api::AddOpenApiRoute(*router);
  auto tier_of = [this](const std::string& id) { return TierOf(id); };
  CLOUDLET_RETURN_IF_ERROR(api::AddUsageRoutes(
      *router, {.ledger = deps.stores.ledger, .prices = deps.stores.prices, .book = prices, .worker = ledger_worker,
                .clock = deps.clock, .tenant_exists = [this](const std::string& t) { return tokens->HasTenant(t); },
                .tier_of = tier_of, .on_recorded = [this] { spend.RefreshSoon(); }}));
  spend.Start(ledger_worker, deps.stores.ledger, prices, deps.clock, tier_of);
  if (deps.stores.prices.shared()) {
    price_follow = std::make_unique<common::FollowThread>(
        [this, log = common::OutageLog("metering: reloading price versions")]() mutable {
          auto loaded = deps.stores.prices.LoadPrices();
          if (!loaded.ok()) return log.Failed(loaded.status().message());
          log.Succeeded();
          for (auto& v : *loaded) prices.Add(std::move(v));  // the same day's version is replaced
        },
        [](common::Millis limit) { std::this_thread::sleep_for(limit); }, common::Millis(1'000));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Server>> Server::Start(const ServerConfig& config, ServerDeps deps) {
  CLOUDLET_RETURN_IF_ERROR(config.Validate());
  auto parts = std::make_unique<Parts>(config, std::move(deps));
  std::unique_ptr<Server> server(new Server(std::move(parts)));
  Parts& p = *server->parts_;
  CLOUDLET_RETURN_IF_ERROR(p.BuildRegistryAndPlacement());
  CLOUDLET_RETURN_IF_ERROR(p.BuildRoutes());
  if (!p.deps.make_http_server) return Status::InvalidArgument("the server was given no HTTP listener");
  // DNS first: once /healthz answers, every listener is up.
  CLOUDLET_RETURN_IF_ERROR(p.StartDns());
  p.http = p.deps.make_http_server(config.http, *p.router);
  CLOUDLET_RETURN_IF_ERROR(p.http->Start());
  return server;
}

Status Server::Parts::StartDns() {
  if (!config.dns) return Status::Ok();
  if (!config.dns->subnets_file.empty()) {
    auto loaded = dns::SubnetMap::Load(config.dns->subnets_file);
    if (!loaded.ok()) return loaded.status();
    subnets = std::move(*loaded);
  }
  dns_directory = std::make_unique<RegistryDnsDirectory>(registry->registry(), *placements);
  dns_responder = std::make_unique<dns::DnsResponder>(config.dns->answers, *dns_directory, subnets ? &*subnets : nullptr);
  auto udp = dns::DnsUdpServer::Start(config.dns->udp, *dns_responder);
  if (!udp.ok()) return udp.status();
  dns_server = std::move(*udp);
  spdlog::info("dns: answering for {} on {} (UDP port {}), {} subnets from {}", dns_responder->options().zone,
               config.dns->udp.listen, dns_server->port(), subnets ? subnets->size() : 0,
               config.dns->subnets_file.empty() ? "no file" : config.dns->subnets_file);
  return Status::Ok();
}

Server::Server(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Server::~Server() { Stop(); }

void Server::Stop() {
  Parts& p = *parts_;
  if (p.stopped) return;
  p.stopped = true;
  if (p.dns_server) p.dns_server->Stop();
  if (p.registry_started) p.registry->registry().FireAllWatches();  // blocking queries answer now
  if (p.placements_started) p.placements->FireAllWatches();
  if (p.http) p.http->Stop(p.config.drain);
  if (p.placements_started) p.placements->Stop();
  p.timers.Shutdown();
  p.admin.Shutdown();
  if (p.price_follow) p.price_follow->Stop();
  p.spend.Stop();
  p.ledger_worker.Shutdown();
  if (p.registry_started) p.registry->Stop();
}

size_t Server::restored_cloudlets() const { return parts_->restored; }
uint16_t Server::dns_port() const { return parts_->dns_server ? parts_->dns_server->port() : 0; }
size_t Server::live_placements() const { return parts_->placements ? parts_->placements->live() : 0; }

std::vector<std::pair<std::string, std::string>> Server::routes() const { return parts_->router->Routes(); }

}  // namespace cloudlet::server
