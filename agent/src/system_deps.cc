// The agent's production adapters.
#include <memory>

#include "cloudlet/agent/agent.h"
#include "cloudlet/api/http_client.h"
#include "cloudlet/discovery/avahi.h"
#include "cloudlet/store/sqlite_stores.h"

namespace cloudlet::agent {

AgentDeps SystemAgentDeps(const AgentConfig& config) {
  auto sampler = std::make_shared<HostSampler>(config.sampler);
  const std::string ca_file = config.reporter.ca_file;
  return {
      .clock = common::WallClock(),
      .random = common::SystemRandomSource(),
      .sample_host = [sampler] { return sampler->Sample(); },
      .http_client = [ca_file] { return api::MakeHttpClient({.ca_file = ca_file}); },
      .http_server = [](const api::HttpServerOptions& options,
                        api::HttpHandler& handler) { return api::MakeCpprestServer(options, handler); },
      .advertiser = [](discovery::AdvertOptions options) { return discovery::MakeAvahiAdvertiser(std::move(options)); },
      .open_spool = [](const std::string& path) { return store::OpenSqliteUsageSpool(path); },
  };
}

}  // namespace cloudlet::agent
