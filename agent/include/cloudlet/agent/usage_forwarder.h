// Forwards the usage the cloudlet's hypervisor or container runtime reports to the agent (spooled
// durably first) to the registry in batches, and drains the spool after an outage.
//
//   UsageForwarder forwarder(spool, {.registry = url, .token = t}, api::MakeHttpClient(), seed);
//   forwarder.Start();
//   forwarder.Wake();       // after records were spooled
//   forwarder.Stop();
//
// A record leaves the spool only once the registry has answered for it (accepted, duplicate, or
// rejected: a rejected record is logged with the reason, as retrying cannot help it). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "cloudlet/agent/backoff.h"
#include "cloudlet/agent/registry_reporter.h"
#include "cloudlet/api/http_client.h"
#include "cloudlet/metering/spool.h"

namespace cloudlet::agent {

class UsageForwarder {
 public:
  UsageForwarder(metering::UsageSpool& spool, ReporterOptions options, std::unique_ptr<api::HttpClient> http,
                 uint64_t seed, std::chrono::milliseconds interval = std::chrono::seconds(2));
  ~UsageForwarder();

  void Start();
  void Wake();
  void Stop();

 private:
  void Run();
  // One batch: the time to wait before the next.
  std::chrono::milliseconds SendBatch();

  metering::UsageSpool& spool_;
  ReporterOptions options_;
  std::unique_ptr<api::HttpClient> http_;
  Backoff backoff_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cloudlet::agent
