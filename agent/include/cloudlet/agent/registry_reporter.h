// Keeps a cloudlet registered with the registry: PUT the descriptor, then heartbeat; back off with
// jitter while the registry is away; register again when it answers a heartbeat with 404.
//
//   RegistryReporter reporter({.registry = "http://10.0.0.1:8470", .token = t}, api::MakeHttpClient(), seed);
//   reporter.Start(descriptor, state);
//   reporter.SetState(next);       // sent with the next heartbeat
//   reporter.Stop(/*deregister=*/true);
//
// Requests run on the reporter's own thread, never on the caller's. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include <thread>

#include "cloudlet/agent/backoff.h"
#include "cloudlet/api/http_client.h"
#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::agent {

struct ReporterOptions {
  std::string registry;  // base URL, no trailing slash
  // Other registries of the same fleet, tried in turn when `registry` does not answer (the agent's
  // HTTP clients wrap them with api::MakeFailoverClient).
  std::vector<std::string> failover = {};
  std::string token;
  std::string ca_file = {};  // to verify an https:// registry; empty: the system's CAs
  std::chrono::milliseconds heartbeat_interval{5000};
  std::chrono::milliseconds request_timeout{3000};
  BackoffOptions backoff = {};
};

// A request to the registry in `options`: its URL, the token as a bearer, a JSON body if any.
api::ClientRequest RegistryRequest(const ReporterOptions& options, std::string method, std::string path,
                                   std::string body);

struct DynamicState {
  double load = 0;  // 0..1
  int64_t cpu_free_millis = 0;
  int64_t mem_free_mb = 0;
};

class RegistryReporter {
 public:
  RegistryReporter(ReporterOptions options, std::unique_ptr<api::HttpClient> http, uint64_t seed);
  ~RegistryReporter();

  void Start(discovery::CloudletDescriptor descriptor, DynamicState state);
  void SetState(DynamicState state);
  // A changed descriptor (base VMs came or went) is registered again at once.
  void SetDescriptor(discovery::CloudletDescriptor descriptor);
  // Stops the thread; with `deregister`, deletes the cloudlet from the registry (one attempt).
  void Stop(bool deregister);
  bool registered() const { return registered_; }

 private:
  void Run();
  bool Register(const discovery::CloudletDescriptor& d, std::chrono::milliseconds& wait);
  void Heartbeat(const DynamicState& s, std::chrono::milliseconds& wait);

  ReporterOptions options_;
  std::unique_ptr<api::HttpClient> http_;  // used by the reporter thread, then by Stop
  Backoff backoff_;
  std::mutex mu_;
  std::condition_variable wake_;
  discovery::CloudletDescriptor descriptor_;
  DynamicState state_;
  uint64_t descriptor_version_ = 0;
  bool need_register_ = true;
  bool stopping_ = false;
  std::atomic<bool> registered_{false};
  std::thread thread_;
};

}  // namespace cloudlet::agent
