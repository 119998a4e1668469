#include "cloudlet/agent/registry_reporter.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cloudlet/discovery/cloudlet_json.h"

namespace cloudlet::agent {

using namespace std::chrono_literals;

RegistryReporter::RegistryReporter(ReporterOptions options, std::unique_ptr<api::HttpClient> http, uint64_t seed)
    : options_(std::move(options)), http_(std::move(http)), backoff_(options_.backoff, seed) {
  while (!options_.registry.empty() && options_.registry.back() == '/') options_.registry.pop_back();
}

RegistryReporter::~RegistryReporter() { Stop(false); }

void RegistryReporter::Start(discovery::CloudletDescriptor descriptor, DynamicState state) {
  std::lock_guard lock(mu_);
  descriptor_ = std::move(descriptor);
  state_ = state;
  thread_ = std::thread([this] { Run(); });
}

void RegistryReporter::SetState(DynamicState state) {
  std::lock_guard lock(mu_);
  state_ = state;
}

void RegistryReporter::SetDescriptor(discovery::CloudletDescriptor descriptor) {
  std::lock_guard lock(mu_);
  descriptor_ = std::move(descriptor);
  ++descriptor_version_;
  need_register_ = true;
  wake_.notify_all();
}

void RegistryReporter::Stop(bool deregister) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  thread_.join();
  if (!deregister || !registered_) return;
  auto r = http_->Send(RegistryRequest(options_, "DELETE", "/v1/cloudlets/" + descriptor_.id, {}));
  if (r.ok() && (r->status == 204 || r->status == 200 || r->status == 404)) {
    spdlog::info("registry: deregistered {} from {}", descriptor_.id, options_.registry);
  } else {
    spdlog::warn("registry: could not deregister {}: {}", descriptor_.id,
                 r.ok() ? "HTTP " + std::to_string(r->status) : r.status().ToString());
  }
  registered_ = false;
}

api::ClientRequest RegistryRequest(const ReporterOptions& options, std::string method, std::string path,
                                   std::string body) {
  api::ClientRequest req{.method = std::move(method), .url = options.registry + path, .body = std::move(body),
                         .headers = {}, .timeout = options.request_timeout};
  if (!req.body.empty()) req.headers["Content-Type"] = "application/json";
  if (!options.token.empty()) req.headers["Authorization"] = "Bearer " + options.token;
  return req;
}

bool RegistryReporter::Register(const discovery::CloudletDescriptor& d, std::chrono::milliseconds& wait) {
  auto r = http_->Send(RegistryRequest(options_, "PUT", "/v1/cloudlets/" + d.id, discovery::DescriptorToJson(d).dump()));
  if (r.ok() && (r->status == 200 || r->status == 201)) {
    if (backoff_.attempts() > 0 || !registered_) spdlog::info("registry: registered {} with {}", d.id, options_.registry);
    registered_ = true;
    backoff_.Reset();
    wait = 0ms;  // the first heartbeat carries the current load at once
    return true;
  }
  wait = backoff_.Next();
  if (!r.ok()) {
    spdlog::warn("registry: {} is unreachable ({}); retrying in {} ms", options_.registry, r.status().ToString(),
                 wait.count());
  } else {
    // 400/401/403 will not fix themselves, but an operator may fix the token or the registry:
    // keep trying at the backoff's pace and say why.
    spdlog::error("registry: registering {} was refused: HTTP {} {}; retrying in {} ms", d.id, r->status, r->body,
                  wait.count());
  }
  return false;
}

void RegistryReporter::Heartbeat(const DynamicState& s, std::chrono::milliseconds& wait) {
  nlohmann::json body = {{"load", s.load}, {"free", {{"cpu_millis", s.cpu_free_millis}, {"mem_mb", s.mem_free_mb}}}};
  auto r = http_->Send(RegistryRequest(options_, "POST", "/v1/cloudlets/" + descriptor_.id + "/heartbeat", body.dump()));
  if (r.ok() && r->status == 200) {
    backoff_.Reset();
    wait = options_.heartbeat_interval;
    return;
  }
  if (r.ok() && r->status == 404) {
    spdlog::warn("registry: {} does not know {} (restarted or purged); registering again", options_.registry,
                 descriptor_.id);
    std::lock_guard lock(mu_);
    need_register_ = true;
    wait = 0ms;
    return;
  }
  wait = backoff_.Next();
  spdlog::warn("registry: heartbeat failed ({}); retrying in {} ms",
               r.ok() ? "HTTP " + std::to_string(r->status) : r.status().ToString(), wait.count());
}

void RegistryReporter::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const bool need_register = need_register_;
    const uint64_t version = descriptor_version_;
    const discovery::CloudletDescriptor descriptor = descriptor_;
    const DynamicState state = state_;
    lock.unlock();
    std::chrono::milliseconds wait = options_.heartbeat_interval;
    if (need_register) {
      if (Register(descriptor, wait)) {
        std::lock_guard relock(mu_);
        if (descriptor_version_ == version) need_register_ = false;  // else: register the newer one
      }
    } else {
      Heartbeat(state, wait);
    }
    lock.lock();
    wake_.wait_for(lock, wait, [&] { return stopping_ || descriptor_version_ != version; });
  }
}

}  // namespace cloudlet::agent
