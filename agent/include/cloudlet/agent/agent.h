// cloudlet-agent's work: measure the host, advertise it over mDNS, keep it registered, and serve
// the local API (/v1/ping, /v1/resource, and POST /v1/usage for the host's hypervisor or runtime,
// spooled and forwarded to the registry).
//
//   Agent agent(config, SystemAgentDeps(config));   // or fakes: a manual clock, a seeded random source, ...
//   CLOUDLET_RETURN_IF_ERROR(agent.Start());   // state file, base VM scan, HTTP, advert, registry
//   std::thread stopper([&] { WaitForSignal(); agent.Stop(); });
//   agent.Run();                               // samples and updates the advert until Stop()
//   agent.Shutdown(/*deregister=*/true);       // withdraws the advert, deregisters
//
// Stop() is thread-safe; the rest is for one thread. The agent builds none of its adapters: they come
// in AgentDeps, so that unit tests run it on a manual clock with fakes (docs/architecture.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cloudlet/agent/base_vm_cache.h"
#include "cloudlet/agent/host_sampler.h"
#include "cloudlet/agent/meter.h"
#include "cloudlet/agent/reconciler.h"
#include "cloudlet/agent/registry_reporter.h"
#include "cloudlet/agent/usage_forwarder.h"
#include "cloudlet/agent/workload_runtime.h"
#include "cloudlet/metering/overflow_spool.h"
#include "cloudlet/metering/spool.h"
#include "cloudlet/api/http.h"
#include "cloudlet/auth/ed25519.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/geo.h"
#include "cloudlet/common/random.h"
#include "cloudlet/discovery/lan.h"
#include "cloudlet/discovery/txt_record.h"

namespace cloudlet::agent {

struct AgentConfig {
  std::string name;                  // DNS-SD instance name; default: the host name
  std::string id;                    // default: kept in <state_dir>/agent.json, made on first start
  std::string state_dir = "var/agent";
  std::string listen_host = "0.0.0.0";
  uint16_t port = 8471;
  std::string endpoint;              // URL of the local API; default http://<first IPv4 address>:<port>
  std::vector<std::string> isolation = {"vm"};
  std::optional<common::GeoPoint> geo;
  double wan_mbps = 1000;
  int64_t gpus = 0;
  std::map<std::string, std::string> labels;
  std::string base_vm_dir;           // empty: no cached base VMs
  std::chrono::milliseconds rescan_interval{60'000};
  HostSamplerOptions sampler;
  std::chrono::milliseconds sample_interval{500};
  std::chrono::milliseconds min_advert_interval{1000};
  int load_threshold_percent = 5;    // advertise again when load moves this many points
  int capacity_threshold_percent = 5;  // ... or free cpu or memory moves this share of the total
  bool mdns = true;
  ReporterOptions reporter;          // registry empty: LAN only
  std::string runtime = "none";      // "podman" or "vm": run what is placed here (workload_runtime.h)
  std::string vm_accel = "auto";     // the vm runtime: kvm, tcg or auto (vm_runtime.h)
  std::string runtime_root;          // the runtime's storage; default <state_dir>/containers
  std::string advertise_address;     // where workloads are published; default: the endpoint's host
  std::vector<std::string> insecure_registries;  // "host:port" OCI registries reached over plain HTTP
  int64_t image_cache_mb = 0;        // the runtime's image store at most this big (LRU); 0: no limit
  std::chrono::milliseconds reconcile_wait{5000};  // longest wait for placements before workloads are checked
  // Usage records kept in memory while the spool's disk refuses writes (full, failing); 0: none.
  size_t spool_memory_records = 10'000;
  std::chrono::milliseconds meter_interval{10'000};  // how often workloads' usage is read (meter.h)
};

// What a runtime is made for.
struct RuntimeContext {
  std::string cloudlet_id;    // marks the workloads this agent owns
  std::string endpoint_host;  // the host of the agent's endpoint: where workloads are published by default
};

// What the agent is given rather than builds. Everything must outlive the agent.
struct AgentDeps {
  const common::Clock& clock;    // intervals, /v1/ping, usage records' "now"
  common::RandomSource& random;  // new cloudlet ids, backoff jitter
  std::function<common::Result<HostSample>()> sample_host;
  // One client per user (the registry reporter, the usage forwarder), each on its own thread.
  std::function<std::unique_ptr<api::HttpClient>()> http_client;
  // The local API's server, for the given handler.
  std::function<std::unique_ptr<api::HttpServer>(const api::HttpServerOptions&, api::HttpHandler&)> http_server;
  std::function<common::Result<std::unique_ptr<discovery::ServiceAdvertiser>>(discovery::AdvertOptions)> advertiser;
  std::function<common::Result<std::unique_ptr<metering::UsageSpool>>(const std::string& path)> open_spool;
  // Makes the runtime that runs what is placed on this cloudlet (workload_runtime.h), once the
  // cloudlet's id and endpoint host are known; empty: none (--runtime none), the agent only
  // advertises and reports.
  std::function<common::Result<std::unique_ptr<WorkloadRuntime>>(const RuntimeContext& context)> make_runtime = {};
};

// The production adapters: /proc (config.sampler), libcurl (config.reporter.ca_file), cpprestsdk,
// Avahi and SQLite, the system clock and the operating system's entropy.
AgentDeps SystemAgentDeps(const AgentConfig& config);

// Makes the TXT record's view of a cloudlet.
discovery::Advert MakeAdvert(const discovery::CloudletDescriptor& d, const HostSample& s, const std::string& registry,
                             uint64_t seq);
// True when `next` differs enough from what is advertised to be worth a new TXT record.
bool AdvertMoved(const discovery::Advert& advertised, const discovery::Advert& next, int load_threshold_percent,
                 int capacity_threshold_percent);

class Agent {
 public:
  Agent(AgentConfig config, AgentDeps deps);
  ~Agent();

  common::Status Start();
  void Run();
  void Stop();
  void Shutdown(bool deregister);

  // One round of Run's work: rescan base VMs when due, sample the host, heartbeat state, advert.
  // Run calls it every sample_interval; tests call it directly.
  void Tick();

  const discovery::CloudletDescriptor& descriptor() const { return descriptor_; }

 private:
  class LocalApi;

  common::Status LoadOrCreateId();
  common::Status ScanBaseVms();
  common::Status StartRuntime();
  void StartReconciler();
  common::Status StartMeter();
  // The meter's latest figures, to the registry (shown live on the dashboard); best effort.
  void PostLive(const std::vector<LiveUsage>& live);
  // descriptor_.base_vms from file_vms_ and image_vms_; true when it changed. Holds mu_.
  bool MergeBaseVmsLocked();
  void Advertise(const HostSample& sample);
  std::string ResourceJson() const;
  // POST /v1/usage from the host's hypervisor or runtime: validated, then spooled durably (or in
  // memory while the disk refuses writes, and the answer says so).
  api::HttpResponse SpoolUsage(const std::string& body);
  // GET /metrics (loopback): the spool's state, in Prometheus' text format.
  std::string MetricsText() const;
  std::vector<std::string> SignedTxt(const discovery::Advert& advert) const;

  AgentConfig config_;
  AgentDeps deps_;
  discovery::CloudletDescriptor descriptor_;
  std::unique_ptr<BaseVmCache> base_vms_;
  std::unique_ptr<auth::SigningKey> key_;  // signs the adverts; its public half is registered
  std::unique_ptr<LocalApi> api_;
  std::unique_ptr<api::HttpServer> server_;
  std::unique_ptr<discovery::ServiceAdvertiser> advertiser_;
  std::unique_ptr<RegistryReporter> reporter_;
  std::unique_ptr<metering::OverflowSpool> spool_;
  std::unique_ptr<UsageForwarder> forwarder_;
  std::unique_ptr<WorkloadRuntime> runtime_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<Meter> meter_;
  std::unique_ptr<api::HttpClient> live_http_;  // the meter's live figures to the registry
  std::vector<WorkloadStatus> workloads_;  // what the runtime last listed; guarded by mu_
  // Base VMs: the files of base_vm_dir, and the runtime's images (guarded by mu_; merged by Tick).
  std::vector<discovery::BaseVm> file_vms_, image_vms_;
  bool image_vms_changed_ = false;

  mutable std::mutex mu_;  // guards what the local API reads: advertised_, sample_, descriptor_
  std::condition_variable stop_cv_;
  bool stop_ = false;
  HostSample sample_;
  discovery::Advert advertised_;
  common::TimePoint last_advert_{};
  common::TimePoint last_scan_{};
};

}  // namespace cloudlet::agent
