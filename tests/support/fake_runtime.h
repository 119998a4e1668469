// An in-memory WorkloadRuntime for unit tests: images come from a pretend registry, and each started
// workload is a real listening socket on loopback, so that health checks connect for real.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cloudlet/agent/workload_runtime.h"

namespace cloudlet::testing {

class FakeRuntime final : public agent::WorkloadRuntime {
 public:
  FakeRuntime() = default;
  ~FakeRuntime() override {
    for (auto& [id, w] : workloads_) CloseSocket(w);
  }

  // What the pretend registry serves; `base` (may be empty) is the image it builds on; a pull of it
  // says it moved `transferred` bytes (-1: does not say, as podman).
  void Publish(const std::string& ref, int64_t size_bytes, const std::string& digest, const std::string& base = "",
               int64_t transferred = -1) {
    std::lock_guard lock(mu_);
    published_[ref] = {ref, size_bytes, digest, base, transferred};
  }
  // The spec of the last workload started.
  agent::WorkloadSpec last_started() const {
    std::lock_guard lock(mu_);
    return last_started_;
  }
  // An image already in the store (as after an earlier pull).
  void Hold(const std::string& ref) {
    std::lock_guard lock(mu_);
    store_.insert(ref);
  }
  // A workload an earlier run left, as podman would list it.
  void Leave(agent::WorkloadStatus w) {
    std::lock_guard lock(mu_);
    workloads_[w.placement_id] = {w, -1, {}};
  }
  void Exit(const std::string& placement, int code, bool oom) {
    std::lock_guard lock(mu_);
    auto& w = workloads_.at(placement);
    CloseSocket(w);
    w.status.state = agent::WorkloadState::kExited;
    w.status.endpoint.clear();
    w.status.exit_code = code;
    w.status.oom_killed = oom;
  }
  size_t starts() const {
    std::lock_guard lock(mu_);
    return starts_;
  }
  std::vector<std::string> pulled() const {
    std::lock_guard lock(mu_);
    return pulled_;
  }
  bool holds(const std::string& ref) const {
    std::lock_guard lock(mu_);
    return store_.count(ref) > 0;
  }

  common::Result<agent::ImageInfo> Pull(const std::string& image) override {
    std::lock_guard lock(mu_);
    auto it = published_.find(image);
    if (it == published_.end()) return common::Status::Unavailable("pull " + image + ": manifest unknown");
    if (!it->second.base.empty()) store_.insert(it->second.base);
    store_.insert(image);
    pulled_.push_back(image);
    agent::ImageInfo info = InfoLocked(image);
    info.transferred_bytes = it->second.transferred;
    return info;
  }
  common::Result<agent::WorkloadStatus> Start(const agent::WorkloadSpec& spec) override {
    std::lock_guard lock(mu_);
    if (workloads_.count(spec.placement_id)) return common::Status::AlreadyExists(spec.placement_id);
    if (!store_.count(spec.image)) return common::Status::Unavailable("start " + spec.image + ": no such image");
    Workload w;
    w.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(w.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(w.fd, 16) != 0 ||
        ::getsockname(w.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return common::Status::Unavailable("start: cannot listen");
    }
    w.status = {.placement_id = spec.placement_id, .tenant = spec.tenant, .id = "c-" + spec.placement_id,
                .image = spec.image, .state = agent::WorkloadState::kRunning,
                .endpoint = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), .exit_code = 0, .oom_killed = false,
                .started_at_ms = started_at_ms_};
    ++starts_;
    last_started_ = spec;
    workloads_[spec.placement_id] = w;
    return w.status;
  }
  common::Status Stop(const std::string& placement) override {
    std::lock_guard lock(mu_);
    if (auto it = workloads_.find(placement); it != workloads_.end()) {
      CloseSocket(it->second);
      workloads_.erase(it);
    }
    return common::Status::Ok();
  }
  common::Result<agent::WorkloadStatus> Inspect(const std::string& placement) override {
    std::lock_guard lock(mu_);
    auto it = workloads_.find(placement);
    if (it == workloads_.end()) return common::Status::NotFound(placement + " has no workload");
    return it->second.status;
  }
  // What Stats answers for the placement's workload from now on (cumulative counters).
  void SetStats(const std::string& placement, agent::WorkloadStats stats) {
    std::lock_guard lock(mu_);
    workloads_.at(placement).stats = stats;
  }
  // The start time workloads started from now on report.
  void SetStartTime(int64_t unix_ms) {
    std::lock_guard lock(mu_);
    started_at_ms_ = unix_ms;
  }
  common::Result<agent::WorkloadStats> Stats(const std::string& placement) override {
    std::lock_guard lock(mu_);
    auto it = workloads_.find(placement);
    if (it == workloads_.end() || it->second.status.state != agent::WorkloadState::kRunning) {
      return common::Status::NotFound("no stats for placement " + placement);
    }
    return it->second.stats;
  }
  common::Result<std::map<std::string, agent::WorkloadStats>> StatsAll() override {
    std::lock_guard lock(mu_);
    std::map<std::string, agent::WorkloadStats> out;
    for (const auto& [id, w] : workloads_) {
      if (w.status.state == agent::WorkloadState::kRunning) out[id] = w.stats;
    }
    return out;
  }
  common::Result<std::vector<agent::WorkloadStatus>> List() override {
    std::lock_guard lock(mu_);
    std::vector<agent::WorkloadStatus> out;
    for (const auto& [id, w] : workloads_) out.push_back(w.status);
    return out;
  }
  common::Result<agent::ImageInfo> Image(const std::string& ref) override {
    std::lock_guard lock(mu_);
    if (!store_.count(ref)) return common::Status::NotFound(ref);
    return InfoLocked(ref);
  }
  common::Result<std::vector<agent::ImageInfo>> Images() override {
    std::lock_guard lock(mu_);
    std::vector<agent::ImageInfo> out;
    for (const auto& ref : store_) out.push_back(InfoLocked(ref));
    return out;
  }
  common::Status RemoveImage(const std::string& id) override {
    std::lock_guard lock(mu_);
    for (const auto& ref : store_) {
      if (IdOf(ref) != id) continue;
      if (InfoLocked(ref).in_use) return common::Status::FailedPrecondition(ref + " is in use");
      store_.erase(ref);
      return common::Status::Ok();
    }
    return common::Status::NotFound(id);
  }

 private:
  struct Published {
    std::string ref;
    int64_t size = 0;
    std::string digest, base;
    int64_t transferred = -1;
  };
  struct Workload {
    agent::WorkloadStatus status;
    int fd = -1;
    agent::WorkloadStats stats = {};
  };
  static std::string IdOf(const std::string& ref) { return "id-" + ref; }
  static void CloseSocket(Workload& w) {
    if (w.fd >= 0) ::close(w.fd);
    w.fd = -1;
  }
  agent::ImageInfo InfoLocked(const std::string& ref) const {
    agent::ImageInfo i{.id = IdOf(ref), .digest = "", .names = {ref}, .size_bytes = 0, .in_use = false};
    if (auto p = published_.find(ref); p != published_.end()) {
      i.size_bytes = p->second.size;
      i.digest = p->second.digest;
    }
    for (const auto& [id, w] : workloads_) {
      if (w.status.image == ref) i.in_use = true;
      auto p = published_.find(w.status.image);
      if (p != published_.end() && p->second.base == ref) i.in_use = true;
    }
    return i;
  }

  mutable std::mutex mu_;
  std::map<std::string, Published> published_;
  std::set<std::string> store_;
  std::map<std::string, Workload> workloads_;
  std::vector<std::string> pulled_;
  size_t starts_ = 0;
  agent::WorkloadSpec last_started_;
  int64_t started_at_ms_ = 0;
};

}  // namespace cloudlet::testing
