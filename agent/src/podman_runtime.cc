#include "cloudlet/agent/podman_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cloudlet/agent/subprocess.h"
#include "cloudlet/agent/tenant_networks.h"

namespace cloudlet::agent {

using common::Result;
using common::Status;
using nlohmann::json;

const char* WorkloadStateName(WorkloadState s) {
  switch (s) {
    case WorkloadState::kCreated: return "created";
    case WorkloadState::kRunning: return "running";
    case WorkloadState::kExited: return "exited";
    case WorkloadState::kUnknown: return "unknown";
  }
  return "unknown";
}

namespace {

constexpr char kPlacementLabel[] = "cloudlet.placement";
constexpr char kTenantLabel[] = "cloudlet.tenant";
constexpr char kAgentLabel[] = "cloudlet.agent";

WorkloadState StateOf(const std::string& s) {
  if (s == "running") return WorkloadState::kRunning;
  if (s == "created" || s == "configured" || s == "initialized") return WorkloadState::kCreated;
  if (s == "exited" || s == "stopped") return WorkloadState::kExited;
  return WorkloadState::kUnknown;
}

// The first line of a tool's complaint, for error messages.
std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.substr(0, 300);
}

// Where podman keeps the network configs of this storage: its own under the runroot (see
// MakePodmanRuntime), else the host's.
std::string NetworkConfigDir(const PodmanOptions& o) { return o.runroot.empty() ? "/etc/cni/net.d" : o.runroot + "/net.d"; }

class PodmanRuntime final : public WorkloadRuntime {
 public:
  explicit PodmanRuntime(PodmanOptions o)
      : o_(std::move(o)),
        invocation_(PodmanFor(o_)),
        nproc_(HostProcessLimit()),
        networks_({.podman = [this](const std::vector<std::string>& args) { return Podman(args); },
                   .agent_id = o_.agent_id,
                   .config_dir = NetworkConfigDir(o_),
                   .guard_host = o_.guard_host}) {}

  Result<ImageInfo> Pull(const std::string& image) override {
    std::vector<std::string> args = {"pull", "--quiet"};
    if (Insecure(image)) args.push_back("--tls-verify=false");
    args.push_back(image);
    auto pulled = Podman(args);
    if (!pulled.ok()) return pulled.status();
    if (pulled->exit_code != 0) return Status::Unavailable("pull " + image + ": " + FirstLine(pulled->err));
    auto held = Image(image);
    if (!held.ok()) return Status::Unavailable("pull " + image + ": not in the store afterwards: " + held.status().message());
    return held;
  }

  // The host port is chosen here (free a moment ago), so that the endpoint is known without asking
  // podman again: every podman call costs tens of milliseconds on the way to a running app.
  Result<WorkloadStatus> Start(const WorkloadSpec& spec) override {
    std::string network;
    if (o_.tenant_networks) {
      auto ensured = networks_.Ensure(spec.tenant);
      if (!ensured.ok()) return ensured.status();
      network = *ensured;
    }
    std::string why;
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto port = FreePort(o_.advertise_address);
      if (!port.ok()) return port.status();
      auto run = Podman(RunArgs(spec, *port, network));
      if (!run.ok()) return run.status();
      if (run->exit_code == 0) {
        return WorkloadStatus{.placement_id = spec.placement_id, .tenant = spec.tenant,
                              .id = FirstLine(run->out), .image = spec.image, .state = WorkloadState::kRunning,
                              .endpoint = o_.advertise_address + ":" + std::to_string(*port), .exit_code = 0,
                              .oom_killed = false, .started_at_ms = 0};
      }
      why = FirstLine(run->err);
      if (why.find("name") != std::string::npos && why.find("already in use") != std::string::npos) {
        return Status::AlreadyExists("placement " + spec.placement_id + " already has a workload");
      }
      (void)Stop(spec.placement_id);  // a created but unstartable container is not left behind
      if (why.find("address already in use") == std::string::npos) break;  // else: the port was taken meanwhile
    }
    return Status::Unavailable("start " + spec.image + ": " + why);
  }

  Status Stop(const std::string& placement_id) override {
    auto rm = Podman({"rm", "--force", "--ignore", "--time", std::to_string(o_.stop_grace.count()), NameOf(placement_id)});
    if (!rm.ok()) return rm.status();
    if (rm->exit_code != 0) return Status::Unavailable("remove the workload of " + placement_id + ": " + FirstLine(rm->err));
    if (o_.tenant_networks) {
      // A tenant whose last workload here stopped keeps no network (nor host guard) behind.
      auto left = Ps({});
      if (left.ok()) {
        std::vector<std::string> tenants;
        for (const auto& w : *left) tenants.push_back(w.tenant);
        networks_.ReleaseUnused(tenants);
      }
    }
    return Status::Ok();
  }

  Result<WorkloadStatus> Inspect(const std::string& placement_id) override {
    auto list = Ps({"--filter", std::string("label=") + kPlacementLabel + "=" + placement_id});
    if (!list.ok()) return list.status();
    if (list->empty()) return Status::NotFound("placement " + placement_id + " has no workload");
    WorkloadStatus s = list->front();
    if (s.state == WorkloadState::kExited) {
      auto oom = Podman({"inspect", "--format", "{{.State.OOMKilled}}", s.id});
      if (oom.ok() && oom->exit_code == 0) s.oom_killed = oom->out.starts_with("true");
      // conmon misses the kill on cgroup v1 hosts (seen on Debian 12's podman 4.3): the kernel's
      // own log names the memory cgroup the OOM killer acted in.
      if (!s.oom_killed && s.exit_code == 137) s.oom_killed = KernelLogShowsOomKill(s.id);
    }
    return s;
  }

  Result<WorkloadStats> Stats(const std::string& placement_id) override {
    auto all = StatsOf({NameOf(placement_id)});
    if (!all.ok()) return all.status().code() == common::StatusCode::kUnavailable
                              ? Status::NotFound("no stats for placement " + placement_id + ": " + all.status().message())
                              : all.status();
    auto it = all->find(placement_id);
    if (it == all->end()) return Status::NotFound("no stats for placement " + placement_id);
    return it->second;
  }

  Result<std::map<std::string, WorkloadStats>> StatsAll() override { return StatsOf({}); }

  Result<std::vector<WorkloadStatus>> List() override { return Ps({}); }

  Result<ImageInfo> Image(const std::string& ref) override {
    auto r = Podman({"image", "inspect", "--format", "json", ref});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Status::NotFound("image " + ref + " is not in the store");
    const json list = json::parse(r->out, nullptr, false);
    if (!list.is_array() || list.empty() || !list[0].is_object()) return Status::Internal("podman image inspect: not a JSON list");
    const json& i = list[0];
    ImageInfo info;
    info.id = i.value("Id", "");
    info.digest = i.value("Digest", "");
    info.size_bytes = i.value("Size", int64_t{0});
    const json tags = i.value("RepoTags", json::array());
    for (const auto& t : tags) if (t.is_string()) info.names.push_back(t.get<std::string>());
    return info;
  }

  Result<std::vector<ImageInfo>> Images() override {
    auto r = Podman({"images", "--format", "json"});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Status::Unavailable("podman images: " + FirstLine(r->err));
    const json list = json::parse(r->out.empty() ? "[]" : r->out, nullptr, false);
    if (!list.is_array()) return Status::Internal("podman images: the answer is not a JSON list");
    std::vector<ImageInfo> out;
    for (const auto& i : list) {
      if (!i.is_object()) continue;
      ImageInfo info;
      info.id = i.value("Id", "");
      info.digest = i.value("Digest", "");
      info.size_bytes = i.value("Size", int64_t{0});
      info.in_use = i.value("Containers", 0) > 0;
      const json names = i.value("Names", json::array());
      if (names.is_array()) for (const auto& n : names) if (n.is_string()) info.names.push_back(n.get<std::string>());
      out.push_back(std::move(info));
    }
    return out;
  }

  Status RemoveImage(const std::string& id) override {
    auto r = Podman({"rmi", id});
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Status::FailedPrecondition("remove image " + id.substr(0, 12) + ": " + FirstLine(r->err));
    return Status::Ok();
  }

 private:
  std::string NameOf(const std::string& placement_id) const { return "cloudlet-" + placement_id; }

  bool Insecure(const std::string& image) const {
    const std::string host = image.substr(0, image.find('/'));
    for (const auto& r : o_.insecure_registries) {
      if (r == host) return true;
    }
    return false;
  }

  // A TCP port free on `address` (or, when it is not local, on any) a moment ago.
  static Result<uint16_t> FreePort(const std::string& address) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::Unavailable(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof addr;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (!ok) {
      addr.sin_addr.s_addr = htonl(INADDR_ANY);
      ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ok = ok && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!ok) return Status::Unavailable("no free port to publish on");
    return ntohs(addr.sin_port);
  }

  std::vector<std::string> RunArgs(const WorkloadSpec& spec, uint16_t host_port, const std::string& network) const {
    std::vector<std::string> a = {"run", "--detach", "--name", NameOf(spec.placement_id),
                                  "--label", std::string(kPlacementLabel) + "=" + spec.placement_id,
                                  "--label", std::string(kTenantLabel) + "=" + spec.tenant,
                                  "--label", std::string(kAgentLabel) + "=" + o_.agent_id,
                                  "--init", "--cap-drop=all", "--security-opt=no-new-privileges",
                                  "--read-only", "--tmpfs", "/tmp:rw,size=" + std::to_string(o_.tmpfs_mb) + "m",
                                  "--pids-limit", std::to_string(o_.pids_limit),
                                  // podman's default open-files and process limits exceed what this kind
                                  // of host allows. RLIMIT_NPROC counts every process of a user id on the
                                  // host, and every workload runs as root without capabilities: a low
                                  // value would let one tenant's fork bomb stop every other tenant's
                                  // forks. It stays at the host's own limit; the pids limit bounds each.
                                  "--ulimit", "nofile=1024:1024", "--ulimit", nproc_,
                                  "--publish", o_.advertise_address + ":" + std::to_string(host_port) + ":" +
                                                   std::to_string(spec.port)};
    if (!network.empty()) a.insert(a.end(), {"--network", network});
    if (spec.cpu_millis > 0) {
      char cpus[32];
      std::snprintf(cpus, sizeof cpus, "%.3f", static_cast<double>(spec.cpu_millis) / 1000);
      a.insert(a.end(), {"--cpus", cpus});
    }
    if (spec.mem_mb > 0) a.insert(a.end(), {"--memory", std::to_string(spec.mem_mb) + "m", "--memory-swap", std::to_string(spec.mem_mb) + "m"});
    for (const auto& [k, v] : spec.env) a.insert(a.end(), {"--env", k + "=" + v});
    a.push_back(spec.image);
    a.insert(a.end(), spec.command.begin(), spec.command.end());
    return a;
  }

  // podman stats of the named containers (none: every running one), by placement.
  Result<std::map<std::string, WorkloadStats>> StatsOf(const std::vector<std::string>& names) {
    std::vector<std::string> args = {"stats", "--no-stream", "--format",
                                     "{{.Name}} {{.ContainerStats.CPUNano}} {{.ContainerStats.MemUsage}} "
                                     "{{.ContainerStats.NetInput}} {{.ContainerStats.NetOutput}}"};
    args.insert(args.end(), names.begin(), names.end());
    auto r = Podman(args);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Status::Unavailable("podman stats: " + FirstLine(r->err));
    std::map<std::string, WorkloadStats> out;
    std::istringstream lines(r->out);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream in(line);
      std::string name;
      uint64_t cpu_ns = 0, mem = 0, rx = 0, tx = 0;
      if (!(in >> name >> cpu_ns >> mem >> rx >> tx)) return Status::Internal("podman stats: unexpected output '" + line.substr(0, 200) + "'");
      if (!name.starts_with("cloudlet-")) continue;  // not a placement's
      out[name.substr(9)] = {.cpu_s = static_cast<double>(cpu_ns) / 1e9, .mem_bytes = static_cast<int64_t>(mem),
                             .net_in_bytes = static_cast<int64_t>(rx), .net_out_bytes = static_cast<int64_t>(tx)};
    }
    return out;
  }

  // This agent's workloads, with more filters.
  Result<std::vector<WorkloadStatus>> Ps(std::vector<std::string> filters) {
    std::vector<std::string> args = {"ps", "--all", "--format", "json", "--filter",
                                     std::string("label=") + kAgentLabel + "=" + o_.agent_id};
    args.insert(args.end(), filters.begin(), filters.end());
    auto r = Podman(args);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Status::Unavailable("podman ps: " + FirstLine(r->err));
    const json list = json::parse(r->out.empty() ? "[]" : r->out, nullptr, false);
    if (!list.is_array()) return Status::Internal("podman ps: the answer is not a JSON list");
    std::vector<WorkloadStatus> out;
    for (const auto& c : list) out.push_back(StatusOf(c));
    return out;
  }

  WorkloadStatus StatusOf(const json& c) const {
    WorkloadStatus s;
    const json labels = c.value("Labels", json::object());
    if (labels.is_object()) {
      s.placement_id = labels.value(kPlacementLabel, "");
      s.tenant = labels.value(kTenantLabel, "");
    }
    s.id = c.value("Id", "");
    s.image = c.value("Image", "");
    s.state = StateOf(c.value("State", ""));
    s.exit_code = c.value("ExitCode", 0);
    if (c.contains("StartedAt") && c["StartedAt"].is_number()) s.started_at_ms = c["StartedAt"].get<int64_t>() * 1000;
    const json ports = c.value("Ports", json::array());
    if (s.state == WorkloadState::kRunning && ports.is_array() && !ports.empty() && ports[0].is_object()) {
      s.endpoint = o_.advertise_address + ":" + std::to_string(ports[0].value("host_port", 0));
    }
    return s;
  }

  Result<ProgramResult> Podman(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = invocation_.argv;
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, o_.timeout, 4 << 20, invocation_.env);
  }

  // "nproc=H:H" with H the host's own bound: this process's hard RLIMIT_NPROC, at most the kernel's
  // pid_max (runc refuses more here: "error setting rlimit type 6").
  static std::string HostProcessLimit() {
    uint64_t limit = 32768;
    std::ifstream pid_max("/proc/sys/kernel/pid_max");
    pid_max >> limit;
    rlimit r{};
    if (::getrlimit(RLIMIT_NPROC, &r) == 0 && r.rlim_max != RLIM_INFINITY) limit = std::min<uint64_t>(limit, r.rlim_max);
    const std::string h = std::to_string(limit);
    return "nproc=" + h + ":" + h;
  }

  const PodmanOptions o_;
  const PodmanInvocation invocation_;
  const std::string nproc_;
  TenantNetworks networks_;
};

}  // namespace

bool KernelLogShowsOomKill(const std::string& container_id, const std::string& kmsg) {
  if (container_id.size() < 12) return false;
  const int fd = ::open(kmsg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  // One record per read, oldest first; EPIPE when the ring overwrote what was next (read on),
  // EAGAIN at the end. The kill's record: "oom-kill:...,oom_memcg=/.../libpod-<id>,...".
  bool found = false;
  char record[8192];
  for (int n = 0; n < 1'000'000 && !found; ++n) {
    const ssize_t got = ::read(fd, record, sizeof record - 1);
    if (got < 0 && errno == EPIPE) continue;
    if (got <= 0) break;
    const std::string_view text(record, static_cast<size_t>(got));
    const size_t at = text.find("oom_memcg=");
    found = at != std::string_view::npos && text.substr(at, text.find(',', at) - at).find(container_id) != std::string_view::npos;
  }
  ::close(fd);
  return found;
}

PodmanInvocation PodmanFor(const PodmanOptions& o) {
  PodmanInvocation p;
  p.argv = {o.podman};
  if (!o.root.empty()) p.argv.insert(p.argv.end(), {"--root", o.root});
  if (!o.runroot.empty()) {
    p.argv.insert(p.argv.end(), {"--runroot", o.runroot, "--tmpdir", o.runroot + "/libpod"});
    p.env.push_back("CONTAINERS_CONF=" + o.runroot + "/containers.conf");
  }
  p.argv.insert(p.argv.end(), {"--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"});
  return p;
}

Result<std::unique_ptr<WorkloadRuntime>> MakePodmanRuntime(PodmanOptions options) {
  if (options.agent_id.empty()) return Status::InvalidField("agent_id", "is required: it marks this agent's workloads");
  for (const std::string* dir : {&options.root, &options.runroot}) {
    std::error_code ec;
    if (!dir->empty()) std::filesystem::create_directories(*dir, ec);
    if (ec) return Status::FailedPrecondition(*dir + ": cannot create: " + ec.message());
  }
  if (!options.runroot.empty()) {
    std::ofstream conf(options.runroot + "/containers.conf");
    conf << "# Written by cloudlet-agent: locks and networks of this storage root's own (see podman_runtime.h).\n"
            "[engine]\nlock_type = \"file\"\n"
            "[network]\nnetwork_config_dir = \"" << NetworkConfigDir(options) << "\"\n";
    if (!conf) return Status::FailedPrecondition(options.runroot + "/containers.conf: cannot write");
  }
  auto version = RunProgram({options.podman, "--version"}, std::chrono::seconds(10));
  if (!version.ok() || version->exit_code != 0) {
    return Status::FailedPrecondition("cannot run " + options.podman + " (apt-get install podman runc)");
  }
  auto runc = RunProgram({"runc", "--version"}, std::chrono::seconds(10));
  if (!runc.ok() || runc->exit_code != 0) return Status::FailedPrecondition("cannot run runc (apt-get install runc)");
  if (options.tenant_networks && options.guard_host) {
    auto iptables = RunProgram({"iptables", "--version"}, std::chrono::seconds(10));
    if (!iptables.ok() || iptables->exit_code != 0) {
      return Status::FailedPrecondition("cannot run iptables, which guards the host from tenants' networks (apt-get install iptables)");
    }
  }
  spdlog::info("runtime: {} (runc), storage {}", FirstLine(version->out), options.root.empty() ? "podman's default" : options.root);
  return std::unique_ptr<WorkloadRuntime>(new PodmanRuntime(std::move(options)));
}

}  // namespace cloudlet::agent
