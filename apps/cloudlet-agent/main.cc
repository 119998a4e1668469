// cloudlet-agent: runs on a cloudlet host. Advertises the cloudlet over mDNS (Avahi), keeps it
// registered with cloudletd, serves /v1/ping and /v1/resource. Runs until SIGTERM or SIGINT, then
// withdraws the advert and deregisters.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "daemon_support.h"
#include "cloudlet/agent/agent.h"
#include "cloudlet/agent/tenant_networks.h"
#include "cloudlet/api/http_client.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/files.h"
#include "cloudlet/common/geo.h"
#include "cloudlet/common/host_port.h"

namespace {

using namespace cloudlet;

struct Flags {
  std::string listen = "0.0.0.0:8471";
  std::string registry;
  std::string token;
  std::string token_file;
  std::string geo;
  std::string heartbeat_interval = "5s";
  std::string sample_interval = "500ms";
  std::string min_advert_interval = "1s";
  std::string rescan_interval = "60s";
  std::string meter_interval = "10s";
  std::vector<std::string> labels;
  std::string log_level = "info";
  bool no_mdns = false;
  bool remove_host_guards = false;
  bool insecure = false;
};

int Fail(int code, const std::string& message) {
  spdlog::error("{}", message);
  return code;
}

int Run(const Flags& flags, agent::AgentConfig config) {
  auto listen = common::ParseHostPort(flags.listen, "--listen");
  if (!listen.ok()) return Fail(2, listen.status().message());
  config.listen_host = listen->host;
  config.port = listen->port;
  for (auto [text, name, out] : {std::tuple{&flags.heartbeat_interval, "--heartbeat-interval", &config.reporter.heartbeat_interval},
                                 std::tuple{&flags.sample_interval, "--sample-interval", &config.sample_interval},
                                 std::tuple{&flags.min_advert_interval, "--min-advert-interval", &config.min_advert_interval},
                                 std::tuple{&flags.rescan_interval, "--rescan-interval", &config.rescan_interval},
                                 std::tuple{&flags.meter_interval, "--meter-interval", &config.meter_interval}}) {
    auto d = common::ParseDuration(*text, name);
    if (!d.ok()) return Fail(2, d.status().message());
    if (d->count() <= 0) return Fail(2, std::string(name) + ": must be longer than 0");
    *out = *d;
  }
  if (!flags.geo.empty()) {
    auto g = common::ParseGeoPoint(flags.geo, "--geo");
    if (!g.ok()) return Fail(2, g.status().message());
    config.geo = *g;
  }
  for (const auto& label : flags.labels) {
    const size_t eq = label.find('=');
    if (eq == std::string::npos || eq == 0) return Fail(2, "--label: expected KEY=VALUE, got '" + label + "'");
    config.labels[label.substr(0, eq)] = label.substr(eq + 1);
  }
  config.mdns = !flags.no_mdns;
  // Several registries, comma-separated: the first is advertised, the rest take over when it is down.
  std::stringstream registries(flags.registry);
  for (std::string url; std::getline(registries, url, ',');) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.empty()) continue;
    if (auto s = api::CheckServerUrl(url, flags.insecure, "--registry"); !s.ok()) return Fail(2, s.message());
    (config.reporter.registry.empty() ? config.reporter.registry : config.reporter.failover.emplace_back()) = url;
  }
  config.reporter.token = flags.token;
  if (config.reporter.token.empty()) {
    if (const char* env = std::getenv("CLOUDLET_TOKEN"); env && *env) config.reporter.token = env;
  }
  if (config.reporter.token.empty() && !flags.token_file.empty()) {
    auto text = common::ReadSmallFile(flags.token_file, 4096);
    if (!text.ok()) return Fail(2, "--token-file: " + text.status().message());
    config.reporter.token = *text;
    while (!config.reporter.token.empty() && std::isspace(static_cast<unsigned char>(config.reporter.token.back()))) {
      config.reporter.token.pop_back();
    }
  }
  if (!config.reporter.registry.empty() && config.reporter.token.empty()) {
    return Fail(2, "--registry needs a token: --token, --token-file or CLOUDLET_TOKEN");
  }

  sigset_t signals = apps::BlockStopSignals();

  agent::AgentDeps deps = agent::SystemAgentDeps(config);
  agent::Agent agent(std::move(config), std::move(deps));
  if (auto s = agent.Start(); !s.ok()) {
    agent.Shutdown(false);
    return Fail(1, s.ToString());
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}; withdrawing the advert and deregistering", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    agent.Stop();
  });
  agent.Run();
  waiter.join();
  agent.Shutdown(/*deregister=*/true);
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  agent::AgentConfig config;
  std::string isolation = "vm";
  int64_t cpu_millis = 0, mem_mb = 0;
  CLI::App app{
      "cloudlet-agent: runs on a cloudlet host. Advertises the cloudlet as _cloudlet._tcp through the host's\n"
      "Avahi daemon (TXT record: id, free cpu and memory, load, isolation, cached base VMs), registers and\n"
      "heartbeats with cloudletd when --registry is given (else LAN only), and serves GET /v1/ping and\n"
      "GET /v1/resource. Its cloudlet id is kept in --state-dir across restarts."};
  apps::AddStandardFlags(app, "cloudlet-agent", CLOUDLET_VERSION);
  app.add_option("--name", config.name, "mDNS instance name (default: the host name)");
  app.add_option("--id", config.id, "Cloudlet id, 1-64 of [a-z0-9-] (default: made on first start and kept)");
  app.add_option("--state-dir", config.state_dir, "Where the id and base VM digests are kept")->capture_default_str();
  app.add_option("--listen", flags.listen, "HOST:PORT of the local API (advertised as the SRV port)")
      ->capture_default_str();
  app.add_option("--endpoint", config.endpoint, "URL of the local API registered with cloudletd "
                 "(default: http://<first IPv4 address>:<port>)");
  app.add_option("--registry", flags.registry,
                 "cloudletd base URL, e.g. http://10.0.0.1:8470; several, comma-separated, for failover: the first is "
                 "advertised, the next ones are tried when it does not answer (default: none, LAN only)");
  app.add_option("--token", flags.token, "Token for the registry (or CLOUDLET_TOKEN, or --token-file)");
  app.add_option("--token-file", flags.token_file, "File holding the token for the registry");
  app.add_option("--ca-file", config.reporter.ca_file, "PEM bundle to verify an https:// registry with")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", flags.insecure, "Allow a plain http:// registry that is not on loopback");
  app.add_option("--heartbeat-interval", flags.heartbeat_interval, "How often to heartbeat")->capture_default_str();
  app.add_option("--isolation", isolation, "What the cloudlet runs: vm, container or vm,container")->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& v) {
            return v == "vm" || v == "container" || v == "vm,container" || v == "container,vm"
                       ? std::string()
                       : "must be vm, container or vm,container, not '" + v + "'";
          },
          "vm|container|vm,container"));
  app.add_option("--geo", flags.geo, "The cloudlet's position: LAT,LON");
  app.add_option("--wan-mbps", config.wan_mbps, "Bandwidth for fetching base VM images")->capture_default_str()
      ->check(CLI::Range(0.001, 1e7));
  app.add_option("--gpus", config.gpus, "GPUs offered")->capture_default_str()->check(CLI::Range(0, 4096));
  app.add_option("--label", flags.labels, "KEY=VALUE label, repeatable");
  app.add_option("--base-vm-dir", config.base_vm_dir, "Directory of cached base VM images (each identified by sha256)");
  app.add_option("--rescan-interval", flags.rescan_interval, "How often to look for new base VM images")
      ->capture_default_str();
  app.add_option("--cpu-millis", cpu_millis, "CPU capacity override in millicores (partitioned hosts)")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}));
  app.add_option("--mem-mb", mem_mb, "Memory capacity override in MiB (partitioned hosts)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  app.add_option("--proc-dir", config.sampler.proc_dir,
                 "Where the host's procfs is mounted (a container may see it at /host/proc)")
      ->capture_default_str();
  app.add_option("--sample-interval", flags.sample_interval, "How often to sample the host")->capture_default_str();
  app.add_option("--min-advert-interval", flags.min_advert_interval, "Least time between TXT record updates")
      ->capture_default_str();
  app.add_option("--load-threshold", config.load_threshold_percent,
                 "Update the advert when load moves this many percentage points")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--capacity-threshold", config.capacity_threshold_percent,
                 "... or free cpu or memory moves this percentage of the total")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_flag("--no-mdns", flags.no_mdns, "Do not advertise over mDNS (registry only)");
  app.add_flag("--remove-host-guards", flags.remove_host_guards,
               "Remove the firewall rules that agent --id added to keep tenants' networks off the host, then exit "
               "(when retiring an agent; a running agent adds them again)")
      ->group("Workload runtime");
  app.add_option("--runtime", config.runtime,
                 "none: advertise and report only; podman: run placements in containers (podman with runc); "
                 "vm: synthesise VMs from a cached base and an overlay (QEMU)")
      ->capture_default_str()->check(CLI::IsMember({"none", "podman", "vm"}))->group("Workload runtime");
  app.add_option("--runtime-root", config.runtime_root, "The runtime's image and workload storage "
                 "(default: <state-dir>/containers, or <state-dir>/vm with --runtime vm)")->group("Workload runtime");
  app.add_option("--vm-accel", config.vm_accel,
                 "The vm runtime's accelerator: kvm, tcg (software emulation), or auto: KVM only if a probe guest "
                 "boots under it within 10 s (nested hosts open /dev/kvm but hang), else TCG")
      ->capture_default_str()->check(CLI::IsMember({"auto", "kvm", "tcg"}))->group("Workload runtime");
  app.add_option("--advertise-address", config.advertise_address,
                 "Address workloads' ports are published on (default: the host of --endpoint)")->group("Workload runtime");
  app.add_option("--insecure-registry", config.insecure_registries,
                 "HOST:PORT of an OCI registry reached over plain HTTP (repeatable; loopback test registries)")
      ->group("Workload runtime");
  app.add_option("--image-cache-mb", config.image_cache_mb,
                 "Keep the runtime's images within this many MiB, evicting the least recently used that no "
                 "workload runs on (default 0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))->group("Workload runtime");
  app.add_option("--meter-interval", flags.meter_interval,
                 "How often each placement's CPU, memory and network use is read from the runtime and "
                 "recorded as usage for its tenant (at least 1s)")
      ->capture_default_str()->group("Workload runtime");
  app.add_option("--spool-memory-records", config.spool_memory_records,
                 "Usage records kept in memory while the spool's disk refuses writes (full or failing); "
                 "said in the log and in GET /metrics, lost if the agent dies first (0: refuse at once)")
      ->capture_default_str()->check(CLI::Range(size_t{0}, size_t{1'000'000}));
  apps::AddLogLevelOption(app, flags.log_level);
  if (auto exit_code = apps::ParseFlags(app, argc, argv)) return *exit_code;
  config.isolation = isolation == "vm,container" || isolation == "container,vm"
                         ? std::vector<std::string>{"vm", "container"}
                         : std::vector<std::string>{isolation};
  if (config.runtime_root.empty()) config.runtime_root = config.state_dir + (config.runtime == "vm" ? "/vm" : "/containers");
  if (cpu_millis > 0) config.sampler.cpu_millis = cpu_millis;
  if (mem_mb > 0) config.sampler.mem_mb = mem_mb;
  apps::SetUpLogging("cloudlet-agent", flags.log_level);
  if (flags.remove_host_guards) {
    if (config.id.empty()) return Fail(2, "--remove-host-guards: give the agent's --id");
    if (auto s = agent::RemoveHostGuards(config.id); !s.ok()) return Fail(1, s.message());
    std::cout << "removed the host guards of cloudlet-agent " << config.id << "\n";
    return 0;
  }
  return Run(flags, std::move(config));
}
