// The agent's production adapters.
#include <memory>

#include "cloudlet/agent/agent.h"
#include "cloudlet/agent/podman_runtime.h"
#include "cloudlet/agent/vm_runtime.h"
#include "cloudlet/api/failover_client.h"
#include "cloudlet/api/http_client.h"
#include "cloudlet/api/http_server.h"
#include "cloudlet/discovery/avahi.h"
#include "cloudlet/store/sqlite_stores.h"

namespace cloudlet::agent {

AgentDeps SystemAgentDeps(const AgentConfig& config) {
  // The runtime, when one is configured: podman or QEMU (vm), its storage under runtime_root.
  std::function<common::Result<std::unique_ptr<WorkloadRuntime>>(const RuntimeContext&)> make_runtime;
  if (config.runtime == "podman") {
    make_runtime = [config](const RuntimeContext& c) {
      return MakePodmanRuntime({.root = config.runtime_root + "/storage",
                                .runroot = config.runtime_root + "/run",
                                .advertise_address = config.advertise_address.empty() ? c.endpoint_host
                                                                                       : config.advertise_address,
                                .insecure_registries = config.insecure_registries,
                                .agent_id = c.cloudlet_id});
    };
  } else if (config.runtime == "vm") {
    make_runtime = [config](const RuntimeContext& c) {
      return MakeVmRuntime({.root = config.runtime_root,
                            .advertise_address = config.advertise_address.empty() ? c.endpoint_host
                                                                                   : config.advertise_address,
                            .agent_id = c.cloudlet_id,
                            .accel = config.vm_accel});  // image URLs: the system's CAs
    };
  }
  auto sampler = std::make_shared<HostSampler>(config.sampler);
  const std::string ca_file = config.reporter.ca_file;
  std::vector<std::string> registries = {config.reporter.registry};
  registries.insert(registries.end(), config.reporter.failover.begin(), config.reporter.failover.end());
  return {
      .clock = common::WallClock(),
      .random = common::SystemRandomSource(),
      .sample_host = [sampler] { return sampler->Sample(); },
      .http_client = [ca_file, registries] {
        return api::MakeFailoverClient(api::MakeHttpClient({.ca_file = ca_file}), registries);
      },
      .http_server = [](const api::HttpServerOptions& options,
                        api::HttpHandler& handler) { return api::MakeHttpServer(options, handler); },
      .advertiser = [](discovery::AdvertOptions options) { return discovery::MakeAvahiAdvertiser(std::move(options)); },
      .open_spool = [](const std::string& path) { return store::OpenSqliteUsageSpool(path); },
      .make_runtime = make_runtime,
  };
}

}  // namespace cloudlet::agent
