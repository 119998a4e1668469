#include "cloudlet/agent/reconciler.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <spdlog/spdlog.h>

#include "cloudlet/common/digest.h"
#include "cloudlet/common/host_port.h"
#include "cloudlet/common/json_fields.h"

namespace cloudlet::agent {

using common::Result;
using common::Status;
using nlohmann::json;
using Seconds = std::chrono::duration<double>;

namespace {

constexpr size_t kMaxPlacements = 10'000;

Seconds Since(std::chrono::steady_clock::time_point t) { return std::chrono::steady_clock::now() - t; }

// A TCP connect to host:port within `timeout`.
bool TcpAnswers(const std::string& endpoint, std::chrono::milliseconds timeout) {
  auto hp = common::ParseHostPort(endpoint, "endpoint");
  if (!hp.ok()) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(hp->port);
  if (::inet_pton(AF_INET, hp->host.c_str(), &addr.sin_addr) != 1) return false;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    ok = ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
         ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  ::close(fd);
  return ok;
}

// The image `ref` names among `images`: by the digest it is pinned to, else by name.
std::optional<ImageInfo> FindImage(const std::vector<ImageInfo>& images, const std::string& ref) {
  const size_t at = ref.find('@');
  const std::string digest = at == std::string::npos ? std::string() : ref.substr(at + 1);
  for (const auto& i : images) {
    if (!digest.empty() && i.digest == digest) return i;
    if (std::find(i.names.begin(), i.names.end(), ref) != i.names.end()) return i;
  }
  return std::nullopt;
}

// Why a workload that stopped by itself stopped, in the words a tenant reads.
std::string ExitReason(const WorkloadStatus& w) {
  if (w.oom_killed) return "out of memory: the workload exceeded its mem_mb";
  if (!w.detail.empty()) return w.detail;
  return "exited with code " + std::to_string(w.exit_code);
}

}  // namespace

Result<std::vector<DesiredWorkload>> DesiredFromJson(const json& body) {
  if (!body.is_object() || !body.contains("placements") || !body["placements"].is_array()) {
    return Status::InvalidField("placements", "must be an array");
  }
  const json& list = body["placements"];
  if (list.size() > kMaxPlacements) return Status::InvalidField("placements", "at most 10000");
  std::vector<DesiredWorkload> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "placements[" + std::to_string(i) + "]";
    if (!list[i].is_object()) return Status::InvalidField(where, "must be an object");
    common::JsonFields f(list[i], where);
    DesiredWorkload d;
    f.String("placement_id", true, d.placement_id);
    f.String("tenant", true, d.tenant);
    f.String("state", true, d.state);
    f.String("endpoint", false, d.endpoint);
    const json* app = f.Object("app", true);
    CLOUDLET_RETURN_IF_ERROR(f.status());
    common::JsonFields a(*app, where + ".app");
    a.String("image", false, d.image);
    a.String("base_image", false, d.base_image);
    std::string overlay_url, overlay_digest, base_vm, base_vm_url;
    a.String("overlay_url", false, overlay_url);
    a.String("overlay_digest", false, overlay_digest);
    a.String("base_vm", false, base_vm);
    a.String("base_vm_url", false, base_vm_url);
    if (!overlay_url.empty()) {
      // The vm runtime's image names: where to fetch each, and the digest it must have.
      d.vm = true;
      d.image = overlay_url + "@" + overlay_digest;
      d.base_image = base_vm_url.empty() ? base_vm : base_vm_url + "@" + base_vm;
    }
    double port = 0, cpu = 0, mem = 0;
    a.Number("port", false, port);
    a.Number("cpu_millis", false, cpu);
    a.Number("mem_mb", false, mem);
    a.Number("ready_timeout_s", false, d.ready_timeout_s);
    d.port = static_cast<int>(port);
    d.cpu_millis = static_cast<int64_t>(cpu);
    d.mem_mb = static_cast<int64_t>(mem);
    if (const json* env = a.Object("env", false)) {
      for (const auto& [k, v] : env->items()) {
        if (v.is_string()) d.env[k] = v.get<std::string>();
      }
    }
    if (const json* cmd = a.Array("command", false)) {
      for (const auto& c : *cmd) {
        if (c.is_string()) d.command.push_back(c.get<std::string>());
      }
    }
    if (const json* health = a.Object("health", false); health && health->contains("http") && (*health)["http"].is_string()) {
      d.health_http = (*health)["http"].get<std::string>();
    }
    CLOUDLET_RETURN_IF_ERROR(a.status());
    out.push_back(std::move(d));
  }
  return out;
}

Reconciler::Reconciler(ReconcilerOptions options, WorkloadRuntime& runtime, std::unique_ptr<api::HttpClient> http,
                       uint64_t seed)
    : options_(std::move(options)), runtime_(runtime), http_(std::move(http)), backoff_(options_.registry.backoff, seed) {}

Reconciler::~Reconciler() { Stop(); }

void Reconciler::Start() { thread_ = std::thread([this] { Run(); }); }

void Reconciler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Reconciler::Run() {
  while (true) {
    std::chrono::milliseconds pause{0};
    if (!RunOnce()) pause = backoff_.Next();
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, pause, [this] { return stopping_; })) return;
  }
}

bool Reconciler::RunOnce() {
  FlushReports();
  std::string path = "/v1/cloudlets/" + options_.cloudlet_id + "/placements";
  auto req = RegistryRequest(options_.registry, "GET", path, {});
  if (index_ > 0) {
    req.url += "?index=" + std::to_string(index_) + "&wait=" + std::to_string(options_.wait.count()) + "ms";
    req.timeout = options_.wait + options_.registry.request_timeout;
  }
  auto r = http_->Send(req);
  if (!r.ok() || r->status != 200) {
    const std::string why = r.ok() ? "HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200) : r.status().ToString();
    if (backoff_.attempts() == 0) spdlog::warn("runtime: cannot read this cloudlet's placements ({}); workloads keep running", why);
    index_ = 0;  // nothing is stopped or started until the registry answers again
    return false;
  }
  const json body = json::parse(r->body, nullptr, false);
  auto desired = DesiredFromJson(body);
  if (!desired.ok()) {
    spdlog::error("runtime: the registry's placements: {}", desired.status().ToString());
    return false;
  }
  if (backoff_.attempts() > 0) spdlog::info("runtime: the registry answers again; reconciling");
  backoff_.Reset();
  index_ = body.value("index", uint64_t{0});
  Reconcile(*desired);
  return true;
}

void Reconciler::Reconcile(const std::vector<DesiredWorkload>& desired) {
  ++round_;
  auto listed = runtime_.List();
  if (!listed.ok()) {
    spdlog::error("runtime: cannot list workloads: {}", listed.status().ToString());
    return;
  }
  std::map<std::string, WorkloadStatus> actual;
  for (const auto& w : *listed) actual[w.placement_id] = w;
  std::set<std::string> wanted;
  for (const auto& d : desired) {
    if (!d.image.empty()) wanted.insert(d.placement_id);
  }
  // Released or expired: stopped and removed.
  for (const auto& [id, w] : actual) {
    if (wanted.count(id)) continue;
    spdlog::info("runtime: placement {} ended; stopping its workload {}", id, w.id.substr(0, 12));
    if (auto s = StopWorkload(id); !s.ok()) spdlog::warn("runtime: {}", s.ToString());
    reported_.erase(id);
  }
  for (const auto& d : desired) {
    if (d.image.empty()) continue;  // advisory: nothing to run
    if (d.vm != options_.vm) {
      if (reported_[d.placement_id] != "failed") {
        Report(d.placement_id, {{"state", "failed"},
                                {"reason", std::string("this cloudlet's agent runs ") + (options_.vm ? "VMs" : "containers") +
                                               " (--runtime " + (options_.vm ? "vm" : "podman") + "), not " +
                                               (d.vm ? "VMs" : "containers")}});
      }
      continue;
    }
    auto it = actual.find(d.placement_id);
    if (it == actual.end()) {
      Provision(d);
      continue;
    }
    const WorkloadStatus& w = it->second;
    if (w.state == WorkloadState::kCreated || w.state == WorkloadState::kUnknown) {
      spdlog::warn("runtime: placement {}: its workload is {}; starting it again", d.placement_id, WorkloadStateName(w.state));
      (void)StopWorkload(d.placement_id);
      Provision(d);
    } else if (w.state == WorkloadState::kExited) {
      auto inspected = runtime_.Inspect(d.placement_id);
      const WorkloadStatus full = inspected.ok() ? *inspected : w;
      spdlog::warn("runtime: placement {}: {}", d.placement_id, ExitReason(full));
      Report(d.placement_id, {{"state", "failed"}, {"reason", ExitReason(full)}});
      (void)StopWorkload(d.placement_id);
    } else if (w.state == WorkloadState::kRunning && (d.state != "running" || d.endpoint != w.endpoint) &&
               reported_[d.placement_id] != "running") {
      // Adopted after a restart, or a report that was lost: the registry learns it runs.
      Report(d.placement_id, {{"state", "running"}, {"endpoint", w.endpoint}});
    }
  }
  auto now = runtime_.List();
  if (now.ok()) {
    if (options_.on_workloads) options_.on_workloads(*now);
    TrimImages(*now);
  }
  FlushReports();
}

void Reconciler::Provision(const DesiredWorkload& d) {
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("runtime: placement {} ({}): provisioning {}", d.placement_id, d.tenant, d.image);
  Report(d.placement_id, {{"state", "provisioning"}});
  auto fail = [&](const std::string& reason) {
    spdlog::warn("runtime: placement {} failed: {}", d.placement_id, reason);
    (void)StopWorkload(d.placement_id);
    Report(d.placement_id, {{"state", "failed"}, {"reason", reason}});
  };
  // What moves: nothing when the image is here (warm); its own layers (a VM's overlay) when its base
  // is (overlay); everything otherwise (full).
  // One look at the store tells the mode (each podman call costs tens of milliseconds).
  auto held = runtime_.Images();
  if (!held.ok()) return fail("start failed: " + held.status().message());
  std::optional<ImageInfo> image = FindImage(*held, d.image);
  const std::optional<ImageInfo> base = d.base_image.empty() ? std::nullopt : FindImage(*held, d.base_image);
  const bool warm = image.has_value();
  int64_t transferred = 0;  // what the pulls moved, when the runtime knows (the vm runtime does)
  bool transfer_known = true;
  if (!warm) {
    // A missing base is fetched first under its own name, so that it stays cached (and
    // advertised) for the next app built on it; the app's own layers follow.
    if (!base && !d.base_image.empty()) {
      auto pulled_base = runtime_.Pull(d.base_image);
      if (!pulled_base.ok()) {
        const std::string& m = pulled_base.status().message();
        return fail(m.starts_with("digest mismatch") ? m : "pull failed: base image: " + m);
      }
      transferred += std::max<int64_t>(0, pulled_base->transferred_bytes);
      transfer_known = transfer_known && pulled_base->transferred_bytes >= 0;
    }
    auto pulled = runtime_.Pull(d.image);
    if (!pulled.ok()) {
      const std::string& m = pulled.status().message();
      if (m.starts_with("digest mismatch")) return fail(m);
      return fail((m.find("digest") != std::string::npos ? "digest mismatch: " : "pull failed: ") + m);
    }
    image = *pulled;
    transferred += std::max<int64_t>(0, pulled->transferred_bytes);
    transfer_known = transfer_known && pulled->transferred_bytes >= 0;
  }
  const double pull_s = Since(started).count();
  const std::string mode = warm ? "warm" : base ? "overlay" : "full";
  const int64_t bytes = warm             ? 0
                        : transfer_known ? transferred
                        : base           ? std::max<int64_t>(0, image->size_bytes - base->size_bytes)
                                         : image->size_bytes;
  last_used_[image->id] = round_;
  if (base) last_used_[base->id] = round_;
  const auto start_at = std::chrono::steady_clock::now();
  auto running = runtime_.Start({.placement_id = d.placement_id, .tenant = d.tenant, .image = d.image,
                                 .base_image = d.base_image, .port = static_cast<uint16_t>(d.port), .env = d.env, .command = d.command,
                                 .cpu_millis = d.cpu_millis, .mem_mb = d.mem_mb});
  if (!running.ok()) return fail("start failed: " + running.status().message());
  if (!WaitHealthy(d, running->endpoint)) {
    auto after = runtime_.Inspect(d.placement_id);
    if (after.ok() && after->state == WorkloadState::kExited) return fail(ExitReason(*after));
    char why[96];
    std::snprintf(why, sizeof why, "health check timed out after %g s", d.ready_timeout_s);
    return fail(why);
  }
  const double seconds = Since(started).count();
  spdlog::info("runtime: placement {} running at {} after {:.2f} s ({}: {} bytes in {:.2f} s)", d.placement_id,
               running->endpoint, seconds, mode, bytes, pull_s);
  Report(d.placement_id, {{"state", "running"},
                          {"endpoint", running->endpoint},
                          {"provision",
                           {{"mode", mode}, {"seconds", seconds}, {"bytes", bytes}, {"pull_seconds", pull_s},
                            {"start_seconds", Since(start_at).count()}}}});
}

Status Reconciler::StopWorkload(const std::string& placement_id) {
  if (options_.before_stop) options_.before_stop(placement_id);
  return runtime_.Stop(placement_id);
}

bool Reconciler::WaitHealthy(const DesiredWorkload& d, const std::string& endpoint) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                Seconds(d.ready_timeout_s));
  while (std::chrono::steady_clock::now() < deadline) {
    // Each attempt gets at most a second, and never beyond the deadline.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const auto attempt = std::clamp(left, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    bool ok = false;
    if (!d.health_http.empty()) {
      auto r = http_->Send({.method = "GET", .url = "http://" + endpoint + d.health_http, .body = {}, .headers = {},
                            .timeout = attempt});
      ok = r.ok() && r->status >= 200 && r->status < 400;
    } else {
      ok = TcpAnswers(endpoint, attempt);
    }
    if (ok) return true;
    auto w = runtime_.Inspect(d.placement_id);
    if (w.ok() && w->state == WorkloadState::kExited) return false;
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stopping_; })) return false;
  }
  return false;
}

void Reconciler::Report(const std::string& placement_id, json report) {
  reported_[placement_id] = report.value("state", "");
  unsent_[placement_id] = std::move(report);  // only the newest matters
  FlushReports();  // at once: someone may be waiting for it
}

void Reconciler::FlushReports() {
  for (auto it = unsent_.begin(); it != unsent_.end();) {
    auto r = http_->Send(RegistryRequest(options_.registry, "POST", "/v1/placements/" + it->first + "/status", it->second.dump()));
    if (!r.ok() || r->status >= 500 || r->status == 429) return;  // kept for the next round
    if (r->status >= 300) {
      // Not found, or ended meanwhile: nothing to tell any more.
      spdlog::info("runtime: report on {} not taken (HTTP {}): {}", it->first, r->status, r->body.substr(0, 200));
    }
    it = unsent_.erase(it);
  }
}

void Reconciler::TrimImages(const std::vector<WorkloadStatus>& running) {
  auto images = runtime_.Images();
  if (!images.ok()) return;
  std::set<std::string> used;
  for (const auto& w : running) used.insert(w.image);
  int64_t total = 0;
  for (auto& i : *images) {
    total += i.size_bytes;
    for (const auto& n : i.names) {
      if (used.count(n)) i.in_use = true;
    }
    if (i.in_use) last_used_[i.id] = round_;
  }
  const int64_t budget = options_.image_cache_mb << 20;
  if (options_.image_cache_mb > 0 && total > budget) {
    // Least recently used first; an image in use is never removed.
    std::sort(images->begin(), images->end(),
              [this](const ImageInfo& a, const ImageInfo& b) { return last_used_[a.id] < last_used_[b.id]; });
    for (auto it = images->begin(); it != images->end() && total > budget;) {
      if (!it->in_use && runtime_.RemoveImage(it->id).ok()) {
        spdlog::info("runtime: image cache over {} MiB: removed {} ({} MiB)", options_.image_cache_mb,
                     it->names.empty() ? it->id.substr(0, 12) : it->names.front(), it->size_bytes >> 20);
        total -= it->size_bytes;
        last_used_.erase(it->id);
        it = images->erase(it);
      } else {
        ++it;
      }
    }
  }
  if (!options_.on_images) return;
  std::vector<discovery::BaseVm> held;
  for (const auto& i : *images) {
    if (common::IsSha256Digest(i.digest)) held.push_back({i.digest, static_cast<double>(i.size_bytes) / (1 << 20)});
  }
  options_.on_images(held);
}

}  // namespace cloudlet::agent
