#include "cloudlet/agent/vm_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cloudlet/agent/subprocess.h"
#include "cloudlet/agent/vm_images.h"
#include "cloudlet/common/digest.h"
#include "cloudlet/common/files.h"

namespace cloudlet::agent {

namespace fs = std::filesystem;
using common::Result;
using common::Status;
using nlohmann::json;

namespace {

constexpr const char* kWorkloadFile = "workload.json";
constexpr const char* kMetaFile = "image.json";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "<url>@sha256:<hex>" or "sha256:<hex>" (or "@sha256:<hex>").
struct VmRef {
  std::string url;
  std::string digest;
};

Result<VmRef> ParseRef(const std::string& ref) {
  const size_t at = ref.rfind('@');
  VmRef out{at == std::string::npos ? "" : ref.substr(0, at), at == std::string::npos ? ref : ref.substr(at + 1)};
  if (!common::IsSha256Digest(out.digest)) {
    return Status::InvalidArgument("'" + ref.substr(0, 200) + "' does not name a VM image: <url>@sha256:<hex> or sha256:<hex>");
  }
  return out;
}

std::string Hex(const std::string& digest) { return digest.substr(7); }

std::string Slurp(const std::string& path, size_t max = 1 << 20) {
  auto text = common::ReadSmallFile(path, max);
  return text.ok() ? *text : std::string();
}

// The last non-empty line of a file's tail, stripped of terminal escapes.
std::string LastLine(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 4096);
  in.seekg(from);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string clean;
  for (size_t i = 0; i < tail.size(); ++i) {
    if (tail[i] == '\x1b') {  // ESC [ ... letter
      while (i < tail.size() && !std::isalpha(static_cast<unsigned char>(tail[i])) ) ++i;
      continue;
    }
    if (tail[i] == '\n' || (tail[i] >= ' ' && tail[i] < 127)) clean += tail[i];
  }
  std::istringstream lines(clean);
  std::string line, last;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(' ') != std::string::npos) last = line;
  }
  return last.substr(0, 200);
}

// A free TCP port on `address` (the kernel's choice); QEMU binds it moments later.
Result<uint16_t> FreePort(const std::string& address) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Status::InvalidArgument("advertise address '" + address + "' is not an IPv4 address");
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable(std::string("socket: ") + std::strerror(errno));
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return Status::Unavailable("no free port on " + address + ": " + std::strerror(err));
  return ntohs(addr.sin_port);
}

// A process that is alive and not a zombie.
bool Alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  const std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat", 4096);
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

// The pid is QEMU for this run directory (pids are reused).
bool IsOurs(pid_t pid, const std::string& run_dir) {
  if (!Alive(pid)) return false;
  std::string cmdline = Slurp("/proc/" + std::to_string(pid) + "/cmdline", 1 << 16);
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline.find(run_dir + "/top.qcow2") != std::string::npos;
}

// Starts argv in a session of its own, reparented away from the agent (so that it outlives it),
// with its output appended to `log`, after it joins each cgroup in `cgroup_procs` (so that limits
// hold from its first instruction). Returns its pid.
Result<pid_t> SpawnDetached(const std::vector<std::string>& argv, const std::string& log,
                            const std::vector<std::string>& cgroup_procs) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) return Status::Unavailable(log + ": " + std::strerror(errno));
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t child = ::fork();
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild == 0) {
      // The agent blocks its stop signals (it waits for them in a thread) and ignores SIGPIPE;
      // QEMU must get neither, or SIGTERM would never stop it.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
      }
      for (const auto& path : cgroup_procs) {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, "0", 1) != 1) _exit(126);  // "0": the writer itself
        ::close(fd);
      }
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::close_range(3, ~0U, 0);  // none of the agent's sockets or files
      ::execv(args[0], args.data());
      _exit(127);
    }
    const ssize_t w = ::write(pipe_fds[1], &grandchild, sizeof grandchild);
    _exit(w == sizeof grandchild && grandchild > 0 ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  pid_t pid = -1;
  const ssize_t r = child > 0 ? ::read(pipe_fds[0], &pid, sizeof pid) : -1;
  ::close(pipe_fds[0]);
  if (child > 0) {
    int status = 0;
    ::waitpid(child, &status, 0);
  }
  if (child < 0 || r != sizeof pid || pid <= 0) return Status::Unavailable("cannot start " + argv[0]);
  return pid;
}

// A program's absolute path (the spawn above runs it without a PATH search).
Result<std::string> FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return Status::FailedPrecondition(name + " cannot be run");
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return Status::FailedPrecondition(name + " is not installed (apt-get install qemu-system-x86 qemu-utils)");
}

// CPU and memory limits for one VM in cgroups (v1 controllers, or the unified v2 hierarchy).
class VmCgroup {
 public:
  VmCgroup(std::string root, std::string name) : root_(std::move(root)), name_(std::move(name)) {}

  // The cgroup.procs files QEMU joins; an error names the file that refused.
  Result<std::vector<std::string>> Create(int64_t cpu_millis, int64_t mem_bytes) {
    std::vector<std::string> procs;
    auto write = [](const std::string& path, const std::string& value) -> Status {
      std::ofstream out(path);
      out << value;
      out.flush();
      if (!out) return Status::FailedPrecondition("cannot write " + value + " to " + path);
      return Status::Ok();
    };
    std::error_code ec;
    if (fs::exists(root_ + "/cgroup.controllers")) {  // v2
      const std::string parent = root_ + "/cloudlet-vm";
      fs::create_directories(parent, ec);
      (void)write(root_ + "/cgroup.subtree_control", "+cpu +memory");
      (void)write(parent + "/cgroup.subtree_control", "+cpu +memory");
      const std::string dir = parent + "/" + name_;
      fs::create_directories(dir, ec);
      if (ec) return Status::FailedPrecondition("cannot create the cgroup " + dir + ": " + ec.message());
      if (cpu_millis > 0) CLOUDLET_RETURN_IF_ERROR(write(dir + "/cpu.max", std::to_string(cpu_millis * 100) + " 100000"));
      CLOUDLET_RETURN_IF_ERROR(write(dir + "/memory.max", std::to_string(mem_bytes)));
      procs.push_back(dir + "/cgroup.procs");
      return procs;
    }
    for (const char* controller : {"cpu", "memory"}) {
      const std::string dir = root_ + "/" + controller + "/cloudlet-vm/" + name_;
      fs::create_directories(dir, ec);
      if (ec) return Status::FailedPrecondition("cannot create the cgroup " + dir + ": " + ec.message());
      if (std::string(controller) == "cpu") {
        if (cpu_millis > 0) {
          CLOUDLET_RETURN_IF_ERROR(write(dir + "/cpu.cfs_period_us", "100000"));
          CLOUDLET_RETURN_IF_ERROR(write(dir + "/cpu.cfs_quota_us", std::to_string(cpu_millis * 100)));
        }
      } else {
        CLOUDLET_RETURN_IF_ERROR(write(dir + "/memory.limit_in_bytes", std::to_string(mem_bytes)));
      }
      procs.push_back(dir + "/cgroup.procs");
    }
    return procs;
  }

  void Remove() {
    for (const std::string& dir : {root_ + "/cloudlet-vm/" + name_, root_ + "/cpu/cloudlet-vm/" + name_,
                                  root_ + "/memory/cloudlet-vm/" + name_}) {
      ::rmdir(dir.c_str());
    }
  }

  // The names of the cgroups under `root` that start with `prefix` (v1 and v2 alike).
  static std::set<std::string> Named(const std::string& root, const std::string& prefix) {
    std::set<std::string> out;
    std::error_code ec;
    for (const std::string& parent : {root + "/cloudlet-vm", root + "/cpu/cloudlet-vm", root + "/memory/cloudlet-vm"}) {
      for (const auto& e : fs::directory_iterator(parent, ec)) {
        const std::string name = e.path().filename().string();
        if (e.is_directory() && name.starts_with(prefix)) out.insert(name);
      }
    }
    return out;
  }

 private:
  std::string root_, name_;
};

class VmRuntime final : public WorkloadRuntime {
 public:
  VmRuntime(VmOptions options, std::string qemu, std::string qemu_img)
      : options_(std::move(options)), qemu_(std::move(qemu)), qemu_img_(std::move(qemu_img)),
        images_(options_.root + "/images"), runs_(options_.root + "/run") {
    std::error_code ec;
    fs::create_directories(images_, ec);
    fs::create_directories(runs_, ec);
    // Staging directories of fetches a crash interrupted, and cgroups of VMs whose run directory is
    // gone (the agent died while starting or stopping one).
    for (const auto& e : fs::directory_iterator(images_, ec)) {
      if (e.path().filename().string().find(".part-") != std::string::npos) fs::remove_all(e.path(), ec);
    }
    SweepCgroups();
  }

  Result<ImageInfo> Pull(const std::string& image) override {
    auto ref = ParseRef(image);
    if (!ref.ok()) return ref.status();
    std::lock_guard lock(pull_mu_);
    if (auto held = Held(ref->digest); held.ok()) {
      held->transferred_bytes = 0;
      return held;
    }
    if (ref->url.empty()) {
      return Status::Unavailable("VM image " + ref->digest + " is not cached here and no URL to fetch it from was given");
    }
    spdlog::info("vm: fetching {} ({})", ref->url, ref->digest);
    const std::string dir = images_ + "/" + Hex(ref->digest);
    auto fetched = FetchVmImage(ref->url, ref->digest, dir,
                                {.ca_file = options_.ca_file, .qemu_img = qemu_img_});
    if (!fetched.ok()) return fetched.status();
    spdlog::info("vm: {} {} cached: {} bytes sent, {} stored, in {:.2f} s", VmImageKindName(fetched->kind),
                 ref->digest.substr(0, 19), fetched->transferred_bytes, fetched->stored_bytes, fetched->seconds);
    json meta = {{"digest", ref->digest}, {"kind", fetched->kind == VmImageKind::kBase ? "base" : "overlay"},
                 {"url", ref->url}, {"transferred_bytes", fetched->transferred_bytes},
                 {"stored_bytes", fetched->stored_bytes}, {"virtual_size", fetched->virtual_size},
                 {"fetch_seconds", fetched->seconds}};
    CLOUDLET_RETURN_IF_ERROR(common::WriteFileAtomically(dir + "/" + kMetaFile, meta.dump(), 0644));
    auto held = Held(ref->digest);
    if (held.ok()) held->transferred_bytes = fetched->transferred_bytes;
    return held;
  }

  Result<WorkloadStatus> Start(const WorkloadSpec& spec) override {
    auto overlay_ref = ParseRef(spec.image);
    if (!overlay_ref.ok()) return overlay_ref.status();
    if (spec.base_image.empty()) return Status::InvalidArgument("a VM needs its base (base_vm)");
    auto base_ref = ParseRef(spec.base_image);
    if (!base_ref.ok()) return base_ref.status();
    auto overlay = Meta(overlay_ref->digest);
    auto base = Meta(base_ref->digest);
    if (!overlay.ok() || overlay->value("kind", "") != "overlay") {
      return Status::FailedPrecondition("overlay " + overlay_ref->digest + " is not cached (pull it first)");
    }
    if (!base.ok() || base->value("kind", "") != "base") {
      return Status::FailedPrecondition("base VM " + base_ref->digest + " is not cached (pull it first)");
    }
    const std::string run = runs_ + "/" + spec.placement_id;
    std::error_code ec;
    if (fs::exists(run + "/" + kWorkloadFile, ec)) {
      auto current = Read(spec.placement_id);
      if (current.ok() && current->state == WorkloadState::kRunning) {
        return Status::AlreadyExists("placement " + spec.placement_id + " already has a VM");
      }
      (void)Stop(spec.placement_id);
    }
    fs::create_directories(run, ec);
    if (ec) return Status::Unavailable(run + ": " + ec.message());
    const std::string base_dir = images_ + "/" + Hex(base_ref->digest);
    const std::string overlay_file = images_ + "/" + Hex(overlay_ref->digest) + "/" + kVmOverlay;
    const int64_t size = overlay->value("virtual_size", int64_t{0});
    // The guest writes only to this layer; -u: the overlay's recorded backing name is never opened.
    auto created = RunProgram({qemu_img_, "create", "-q", "-f", "qcow2", "-u", "-b", overlay_file, "-F", "qcow2",
                               run + "/top.qcow2", std::to_string(size)},
                              std::chrono::seconds(30));
    if (!created.ok() || created->exit_code != 0) {
      Cleanup(spec.placement_id);
      return Status::Unavailable("qemu-img create: " + (created.ok() ? created->err.substr(0, 300) : created.status().message()));
    }
    const std::string accel = Accel(base_dir + "/" + kVmKernel);
    auto port = FreePort(options_.advertise_address);
    if (!port.ok()) {
      Cleanup(spec.placement_id);
      return port.status();
    }
    const int64_t mem_mb = spec.mem_mb > 0 ? std::max<int64_t>(spec.mem_mb, 64) : 256;
    const int64_t cpus = std::clamp<int64_t>((spec.cpu_millis + 999) / 1000, 1, 64);
    VmCgroup cgroup(options_.cgroup_root, CgroupName(spec.placement_id));
    auto procs = cgroup.Create(spec.cpu_millis, (mem_mb + options_.mem_overhead_mb) << 20);
    if (!procs.ok()) {
      Cleanup(spec.placement_id);
      return Status::FailedPrecondition("cannot limit the VM's CPU and memory: " + procs.status().message());
    }
    auto blockdev = [](const std::string& node, const std::string& file, const json& backing, bool read_only) {
      json j = {{"driver", "qcow2"}, {"node-name", node}, {"backing", backing},
                {"file", {{"driver", "file"}, {"filename", file}}}};
      if (read_only) {
        j["read-only"] = true;
        j["file"]["read-only"] = true;
      }
      return j.dump();
    };
    std::vector<std::string> argv = {
        qemu_, "-name", "cloudlet-" + spec.placement_id, "-machine", "pc,accel=" + accel, "-nodefaults",
        "-no-user-config", "-nographic", "-no-reboot", "-m", std::to_string(mem_mb), "-smp", std::to_string(cpus),
        "-kernel", base_dir + "/" + kVmKernel, "-initrd", base_dir + "/" + kVmInitrd,
        "-append", "console=ttyS0 quiet panic=-1",
        // The chain is spelt out: no backing name recorded in an image is followed.
        "-blockdev", blockdev("base", base_dir + "/" + kVmDisk, nullptr, true),
        "-blockdev", blockdev("overlay", overlay_file, "base", true),
        "-blockdev", blockdev("top", run + "/top.qcow2", "overlay", false),
        "-device", "virtio-blk-pci,drive=top",
        "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:" + options_.advertise_address + ":" + std::to_string(*port) +
                       "-:" + std::to_string(spec.port),
        "-device", "virtio-net-pci,netdev=net0,romfile=",
        "-serial", "file:" + run + "/console.log", "-pidfile", run + "/qemu.pid",
        "-sandbox", "on,obsolete=deny,resourcecontrol=deny,spawn=deny"};
    if (!options_.run_as.empty()) {
      argv.push_back("-runas");
      argv.push_back(options_.run_as);
    }
    WorkloadStatus status{.placement_id = spec.placement_id, .tenant = spec.tenant, .id = "", .image = spec.image,
                          .state = WorkloadState::kRunning,
                          .endpoint = options_.advertise_address + ":" + std::to_string(*port),
                          .started_at_ms = NowMs()};
    auto pid = SpawnDetached(argv, run + "/qemu.log", *procs);
    if (!pid.ok()) {
      Cleanup(spec.placement_id);
      return pid.status();
    }
    status.id = "qemu-" + std::to_string(*pid);
    json record = {{"placement_id", spec.placement_id}, {"tenant", spec.tenant}, {"agent_id", options_.agent_id},
                   {"image", spec.image}, {"base_image", spec.base_image}, {"endpoint", status.endpoint},
                   {"pid", *pid}, {"started_at_ms", status.started_at_ms}, {"accel", accel}};
    if (auto s = common::WriteFileAtomically(run + "/" + kWorkloadFile, record.dump(), 0644); !s.ok()) {
      ::kill(*pid, SIGKILL);
      Cleanup(spec.placement_id);
      return s;
    }
    // QEMU writes its pid file once it has set the machine up; an error (a port taken meanwhile, a
    // device it refuses) ends it before that.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && Alive(*pid) && !fs::exists(run + "/qemu.pid", ec)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!Alive(*pid)) {
      const std::string why = LastLine(run + "/qemu.log");
      Cleanup(spec.placement_id);
      return Status::Unavailable("QEMU stopped at once: " + (why.empty() ? std::string("no message") : why));
    }
    spdlog::info("vm: placement {} booting ({}, {} vCPU, {} MiB, pid {}) at {}", spec.placement_id, accel, cpus,
                 mem_mb, *pid, status.endpoint);
    return status;
  }

  Status Stop(const std::string& placement_id) override {
    const std::string run = runs_ + "/" + placement_id;
    std::error_code ec;
    if (!fs::exists(run, ec)) return Status::Ok();
    const json record = json::parse(Slurp(run + "/" + kWorkloadFile), nullptr, false);
    const pid_t pid = record.is_object() ? record.value("pid", 0) : 0;
    if (IsOurs(pid, run)) {
      ::kill(pid, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + options_.stop_grace;
      while (Alive(pid) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (Alive(pid)) ::kill(pid, SIGKILL);
      for (int i = 0; i < 250 && Alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (Alive(pid)) return Status::Unavailable("QEMU " + std::to_string(pid) + " of " + placement_id + " does not stop");
    }
    Cleanup(placement_id);
    return Status::Ok();
  }

  Result<WorkloadStatus> Inspect(const std::string& placement_id) override { return Read(placement_id); }

  Result<WorkloadStats> Stats(const std::string& placement_id) override {
    auto w = Read(placement_id);
    if (!w.ok()) return w.status();
    if (w->state != WorkloadState::kRunning) return Status::NotFound("placement " + placement_id + " has no running VM");
    return ProcessStats(static_cast<pid_t>(std::stol(w->id.substr(5))));
  }

  Result<std::map<std::string, WorkloadStats>> StatsAll() override {
    auto all = List();
    if (!all.ok()) return all.status();
    std::map<std::string, WorkloadStats> out;
    for (const auto& w : *all) {
      if (w.state != WorkloadState::kRunning) continue;
      auto s = ProcessStats(static_cast<pid_t>(std::stol(w.id.substr(5))));
      if (s.ok()) out[w.placement_id] = *s;
    }
    return out;
  }

  Result<std::vector<WorkloadStatus>> List() override {
    std::vector<WorkloadStatus> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(runs_, ec)) {
      if (!e.is_directory()) continue;
      auto w = Read(e.path().filename().string());
      if (w.ok()) out.push_back(*w);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.placement_id < b.placement_id; });
    return out;
  }

  Result<ImageInfo> Image(const std::string& ref) override {
    auto parsed = ParseRef(ref);
    if (!parsed.ok()) return Status::NotFound(parsed.status().message());
    return Held(parsed->digest);
  }

  Result<std::vector<ImageInfo>> Images() override {
    std::vector<ImageInfo> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(images_, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory() || name.size() != 64) continue;
      auto held = Held("sha256:" + name);
      if (held.ok()) out.push_back(*held);
    }
    return out;
  }

  Status RemoveImage(const std::string& id) override {
    auto parsed = ParseRef(id);
    if (!parsed.ok()) return parsed.status();
    if (InUse().count(parsed->digest)) return Status::FailedPrecondition("VM image " + id + " is in use");
    std::error_code ec;
    fs::remove_all(images_ + "/" + Hex(parsed->digest), ec);
    if (ec) return Status::Unavailable("cannot remove VM image " + id + ": " + ec.message());
    return Status::Ok();
  }

 private:
  std::string CgroupName(const std::string& placement_id) const {
    return (options_.agent_id.empty() ? std::string("agent") : options_.agent_id) + "-" + placement_id;
  }

  std::string Accel(const std::string& kernel) {
    std::lock_guard lock(accel_mu_);
    if (accel_.empty()) {
      std::string why;
      accel_ = ChooseVmAccel(options_, kernel, &why);
      spdlog::info("vm: accelerator {} ({})", accel_, why);
    }
    return accel_;
  }

  Result<json> Meta(const std::string& digest) const {
    auto text = common::ReadSmallFile(images_ + "/" + Hex(digest) + "/" + kMetaFile, 1 << 16);
    if (!text.ok()) return Status::NotFound("VM image " + digest + " is not cached");
    json meta = json::parse(*text, nullptr, false);
    if (!meta.is_object()) return Status::NotFound("VM image " + digest + ": unreadable " + kMetaFile);
    return meta;
  }

  std::set<std::string> InUse() {
    std::set<std::string> used;
    auto all = List();
    if (!all.ok()) return used;
    for (const auto& w : *all) {
      if (auto r = ParseRef(w.image); r.ok()) used.insert(r->digest);
      const json record = json::parse(Slurp(runs_ + "/" + w.placement_id + "/" + kWorkloadFile), nullptr, false);
      if (record.is_object()) {
        if (auto r = ParseRef(record.value("base_image", "")); r.ok()) used.insert(r->digest);
      }
    }
    return used;
  }

  Result<ImageInfo> Held(const std::string& digest) {
    auto meta = Meta(digest);
    if (!meta.ok()) return meta.status();
    ImageInfo info{.id = digest, .digest = digest, .names = {}, .size_bytes = meta->value("stored_bytes", int64_t{0})};
    if (const std::string url = meta->value("url", ""); !url.empty()) info.names.push_back(url + "@" + digest);
    info.in_use = InUse().count(digest) > 0;
    return info;
  }

  Result<WorkloadStatus> Read(const std::string& placement_id) {
    const std::string run = runs_ + "/" + placement_id;
    const json record = json::parse(Slurp(run + "/" + kWorkloadFile), nullptr, false);
    if (!record.is_object() || record.value("agent_id", "") != options_.agent_id) {
      return Status::NotFound("placement " + placement_id + " has no VM");
    }
    const pid_t pid = record.value("pid", 0);
    WorkloadStatus w{.placement_id = placement_id, .tenant = record.value("tenant", ""),
                     .id = "qemu-" + std::to_string(pid), .image = record.value("image", ""),
                     .state = IsOurs(pid, run) ? WorkloadState::kRunning : WorkloadState::kExited,
                     .endpoint = record.value("endpoint", ""), .started_at_ms = record.value("started_at_ms", int64_t{0})};
    if (w.state == WorkloadState::kExited) {
      w.endpoint.clear();
      const std::string console = LastLine(run + "/console.log"), qemu = LastLine(run + "/qemu.log");
      w.detail = "the VM stopped" + (!qemu.empty() ? ": " + qemu : !console.empty() ? " (its console's last line: " + console + ")" : "");
    }
    return w;
  }

  static Result<WorkloadStats> ProcessStats(pid_t pid) {
    const std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat", 4096);
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) return Status::NotFound("process " + std::to_string(pid) + " is gone");
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(fields)), std::istream_iterator<std::string>());
    // After the command: state(0) ... utime(11) stime(12) ... rss(21), in clock ticks and pages.
    if (f.size() < 22) return Status::Unavailable("unreadable /proc/" + std::to_string(pid) + "/stat");
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    WorkloadStats s;
    s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    s.mem_bytes = std::stoll(f[21]) * ::sysconf(_SC_PAGESIZE);
    return s;  // network counters: QEMU's user networking keeps none (docs/runtime.md)
  }

  void Cleanup(const std::string& placement_id) {
    std::error_code ec;
    fs::remove_all(runs_ + "/" + placement_id, ec);
    SweepCgroups();
  }

  // Removes this agent's cgroups that no VM's run directory claims. A cgroup whose QEMU has exited
  // but is not reaped yet cannot be removed; a later sweep (the next stop, or the next start of the
  // agent) takes it.
  void SweepCgroups() {
    std::error_code ec;
    const std::string prefix = CgroupName("");
    for (const auto& name : VmCgroup::Named(options_.cgroup_root, prefix)) {
      if (!fs::exists(runs_ + "/" + name.substr(prefix.size()), ec)) VmCgroup(options_.cgroup_root, name).Remove();
    }
  }

  const VmOptions options_;
  const std::string qemu_, qemu_img_, images_, runs_;
  std::mutex pull_mu_, accel_mu_;
  std::string accel_;
};

}  // namespace

std::string ChooseVmAccel(const VmOptions& options, const std::string& kernel, std::string* why) {
  auto say = [&](const std::string& s) {
    if (why) *why = s;
  };
  if (options.accel == "tcg") return say("asked for"), "tcg";
  if (options.accel == "kvm") return say("asked for"), "kvm";
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return say(std::string("/dev/kvm: ") + std::strerror(errno)), "tcg";
  ::close(fd);
  // /dev/kvm opens; whether a guest really runs is another matter (nested virtualisation): boot the
  // kernel without a disk and look for its first line on the serial console.
  char dir[] = "/tmp/cloudlet-kvm-probe-XXXXXX";
  if (!::mkdtemp(dir)) return say("cannot make a probe directory"), "tcg";
  const std::string console = std::string(dir) + "/console";
  const auto deadline = options.kvm_probe_deadline;
  (void)RunProgram({options.qemu, "-machine", "pc,accel=kvm", "-nodefaults", "-no-user-config", "-nographic",
                    "-no-reboot", "-m", "128", "-kernel", kernel, "-append", "console=ttyS0 panic=-1",
                    "-serial", "file:" + console},
                   deadline);
  const bool booted = Slurp(console).find("Linux version") != std::string::npos;
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (booted) return say("a probe guest booted under KVM"), "kvm";
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.0f", deadline.count() / 1000.0);
  return say(std::string("/dev/kvm opens, but a probe guest printed nothing under KVM within ") + seconds +
             " s (nested virtualisation?)"),
         "tcg";
}

Result<std::unique_ptr<WorkloadRuntime>> MakeVmRuntime(VmOptions options) {
  auto qemu = FindProgram(options.qemu);
  if (!qemu.ok()) return qemu.status();
  auto qemu_img = FindProgram(options.qemu_img);
  if (!qemu_img.ok()) return qemu_img.status();
  if (options.accel != "auto" && options.accel != "kvm" && options.accel != "tcg") {
    return Status::InvalidField("--vm-accel", "must be auto, kvm or tcg");
  }
  if (options.root.empty()) return Status::InvalidField("--runtime-root", "is required for the vm runtime");
  if (::geteuid() != 0) options.run_as.clear();  // only root can change user
  options.qemu = *qemu;
  return std::unique_ptr<WorkloadRuntime>(new VmRuntime(std::move(options), *qemu, *qemu_img));
}

}  // namespace cloudlet::agent
