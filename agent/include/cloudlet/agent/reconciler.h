// Runs what the registry placed on this cloudlet, as a kubelet does: follows the cloudlet's
// placements with a blocking query, starts what is placed and not running (pull, start, health
// check), stops and removes what was released or expired, reports each placement's state, and keeps
// the image store within its budget. docs/runtime.md tells the whole story.
//
//   Reconciler r({.registry = reporter_options, .cloudlet_id = "cl-a"}, runtime, api::MakeHttpClient(),
//                clock, seed);
//   r.Start();     // its own thread
//   r.Stop();
//
// While the registry is away nothing is stopped: workloads keep serving, and the reconciler catches
// up (reports included) once it answers again. Workloads carry their placement and tenant as labels,
// so an agent that restarts adopts what it ran. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/agent/backoff.h"
#include "cloudlet/agent/registry_reporter.h"
#include "cloudlet/agent/workload_runtime.h"
#include "cloudlet/api/http_client.h"
#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::agent {

struct ReconcilerOptions {
  ReporterOptions registry;  // where placements come from and reports go, with the agent's token
  std::string cloudlet_id;
  std::chrono::milliseconds wait{5000};  // a blocking query's wait: also how often workloads are checked
  int64_t image_cache_mb = 0;            // 0: no limit
  bool vm = false;  // the runtime runs VMs (vm_runtime.h), not containers: placements of the other kind fail
  // Told what runs (for /v1/resource) and which images are held (advertised as base VMs).
  std::function<void(const std::vector<WorkloadStatus>&)> on_workloads = {};
  std::function<void(const std::vector<discovery::BaseVm>&)> on_images = {};
  // Called before a workload is stopped (the meter closes its last window).
  std::function<void(const std::string& placement_id)> before_stop = {};
};

// One placement of this cloudlet as the registry lists it for its agent.
struct DesiredWorkload {
  std::string placement_id;
  std::string tenant;
  std::string state;          // reserved, active, provisioning or running
  std::string endpoint;       // as the registry has it
  std::string image, base_image;  // a VM's: "<overlay_url>@<overlay_digest>", "[<base_vm_url>@]<base_vm>"
  bool vm = false;                 // isolation vm (the app gives overlay_url)
  int port = 0;
  std::map<std::string, std::string> env;
  std::vector<std::string> command;
  std::string health_http;    // "/path"; empty: a TCP connect
  double ready_timeout_s = 60;
  int64_t cpu_millis = 0, mem_mb = 0;
};

// The registry's answer to GET /v1/cloudlets/{id}/placements; errors name the field.
common::Result<std::vector<DesiredWorkload>> DesiredFromJson(const nlohmann::json& body);

class Reconciler {
 public:
  Reconciler(ReconcilerOptions options, WorkloadRuntime& runtime, std::unique_ptr<api::HttpClient> http,
             uint64_t seed);
  ~Reconciler();

  void Start();
  void Stop();

  // One round, for tests: fetch (blocking up to `wait` when `index` is known), then reconcile.
  // False when the registry could not be asked.
  bool RunOnce();
  // Brings the runtime in line with `desired`: what Run does after every answer.
  void Reconcile(const std::vector<DesiredWorkload>& desired);

 private:
  void Run();
  void Provision(const DesiredWorkload& d);
  common::Status StopWorkload(const std::string& placement_id);
  // True once the workload answers its health check, within its ready timeout.
  bool WaitHealthy(const DesiredWorkload& d, const std::string& endpoint);
  void Report(const std::string& placement_id, nlohmann::json report);
  void FlushReports();
  void TrimImages(const std::vector<WorkloadStatus>& running);

  const ReconcilerOptions options_;
  WorkloadRuntime& runtime_;
  std::unique_ptr<api::HttpClient> http_;
  Backoff backoff_;
  uint64_t index_ = 0;
  std::map<std::string, nlohmann::json> unsent_;      // reports the registry has not taken yet
  std::map<std::string, std::string> reported_;       // placement -> last state reported
  std::map<std::string, uint64_t> last_used_;          // image id -> round it was last used in (LRU)
  uint64_t round_ = 0;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cloudlet::agent
