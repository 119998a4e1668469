#include "support/netns_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/child_process.h"

namespace cloudlet::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kLabPrefix[] = "cltest";

bool HaveProgram(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    if (::access((std::string(dir) + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

void KillNamespace(const std::string& ns) {
  // Everything still running in it, then the namespace itself.
  RunResult pids = RunCommand({"ip", "netns", "pids", ns}, std::chrono::seconds(10));
  std::istringstream in(pids.out);
  for (int pid; in >> pid;) ::kill(pid, SIGKILL);
  RunCommand({"ip", "netns", "del", ns}, std::chrono::seconds(10));
}

// Labs whose test binary died without cleaning up: their namespace names carry its pid.
void RemoveAbandonedLabs() {
  RunResult list = RunCommand({"ip", "netns", "list"}, std::chrono::seconds(10));
  std::istringstream in(list.out);
  const std::regex name(std::string(kLabPrefix) + "([0-9]+)-[a-z0-9]+");
  for (std::string line; std::getline(in, line);) {
    const std::string ns = line.substr(0, line.find(' '));
    std::smatch m;
    if (!std::regex_match(ns, m, name)) continue;
    const int pid = std::stoi(m[1]);
    if (pid != ::getpid() && ::kill(pid, 0) != 0) KillNamespace(ns);
  }
}

void ReapChildren() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace

std::string NetnsLab::Unavailable() {
  if (::geteuid() != 0) return "needs root (network namespaces and private Avahi daemons)";
  for (const char* p : {"ip", "avahi-daemon", "dbus-daemon", "unshare", "nsenter", "avahi-browse", "avahi-publish"}) {
    if (!HaveProgram(p)) return std::string("needs ") + p + " (scripts/install-deps installs it)";
  }
  RunResult probe = RunCommand({"ip", "netns", "add", std::string(kLabPrefix) + std::to_string(::getpid()) + "-probe"});
  if (probe.exit_code != 0) return "cannot create network namespaces here: " + probe.err;
  RunCommand({"ip", "netns", "del", std::string(kLabPrefix) + std::to_string(::getpid()) + "-probe"});
  return "";
}

bool NetnsLab::Required() {
  const char* v = std::getenv("CLOUDLET_REQUIRE_NETNS");
  return v && std::string(v) == "1";
}

NetnsLab::NetnsLab(int nodes) {
  static int labs = 0;
  prefix_ = std::string(kLabPrefix) + std::to_string(::getpid()) + "-" + std::to_string(labs++);
  // Daemons double-fork; as a subreaper this process inherits and reaps them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  RemoveAbandonedLabs();
  dir_ = (fs::temp_directory_path() / prefix_).string();
  if (!SetUp(nodes) && error_.empty()) error_ = "lab set-up failed";
}

bool NetnsLab::Run(const std::vector<std::string>& argv) {
  RunResult r = RunCommand(argv, std::chrono::seconds(20));
  if (r.exit_code == 0) return true;
  std::string cmd;
  for (const auto& a : argv) cmd += a + " ";
  error_ = cmd + "failed (" + std::to_string(r.exit_code) + "): " + r.err;
  return false;
}

bool NetnsLab::SetUp(int count) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  // Mount points for the per-node bind mounts (empty directories; nothing runs in them on the host).
  fs::create_directories("/run/dbus", ec);
  fs::create_directories("/run/avahi-daemon", ec);
  bridge_ns_ = prefix_ + "br";
  if (!Run({"ip", "netns", "add", bridge_ns_}) ||
      !Run({"ip", "-n", bridge_ns_, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"}) ||
      !Run({"ip", "-n", bridge_ns_, "link", "set", "br0", "up"})) {
    return false;
  }
  for (int i = 0; i < count; ++i) {
    Node node;
    node.ns = prefix_ + "n" + std::to_string(i);
    node.dir = dir_ + "/n" + std::to_string(i);
    nodes_.push_back(node);
    const std::string peer = "p" + std::to_string(i);
    if (!Run({"ip", "netns", "add", node.ns}) ||
        !Run({"ip", "link", "add", "veth0", "netns", node.ns, "type", "veth", "peer", "name", peer, "netns", bridge_ns_}) ||
        !Run({"ip", "-n", bridge_ns_, "link", "set", peer, "master", "br0"}) ||
        !Run({"ip", "-n", bridge_ns_, "link", "set", peer, "up"}) ||
        !Run({"ip", "-n", node.ns, "addr", "add", Address(i) + "/24", "dev", "veth0"}) ||
        !Run({"ip", "-n", node.ns, "link", "set", "veth0", "up"}) ||
        !Run({"ip", "-n", node.ns, "link", "set", "lo", "up"})) {
      return false;
    }
    fs::create_directories(node.dir + "/run-dbus", ec);
    fs::create_directories(node.dir + "/run-avahi", ec);
    std::ofstream(node.dir + "/avahi.conf") << "[server]\nhost-name=node" << i
                                            << "\nuse-ipv6=no\nallow-interfaces=veth0\nenable-dbus=yes\n"
                                               "[wide-area]\nenable-wide-area=no\n"
                                               "[publish]\npublish-workstation=no\npublish-hinfo=no\npublish-aaaa-on-ipv4=no\n";
    const std::string script = "mount --bind " + node.dir + "/run-dbus /run/dbus && mount --bind " + node.dir +
                               "/run-avahi /run/avahi-daemon && chown messagebus /run/dbus && chown avahi "
                               "/run/avahi-daemon && dbus-daemon --system --fork --nopidfile && "
                               "avahi-daemon -f " + node.dir + "/avahi.conf --no-chroot -D --no-rlimits && "
                               "exec sleep infinity";
    auto holder = std::make_unique<ChildProcess>(
        std::vector<std::string>{"ip", "netns", "exec", node.ns, "unshare", "-m", "--propagation", "private", "sh",
                                 "-c", script},
        node.dir + "/holder.log", node.dir + "/holder.log");
    if (!holder->Start()) {
      error_ = "cannot start the holder of " + node.ns;
      return false;
    }
    nodes_.back().holder = holder->pid();
    holders_.push_back(std::move(holder));
  }
  for (int i = 0; i < count; ++i) {
    if (!WaitForAvahi(i)) {
      error_ = "the Avahi daemon of " + nodes_[i].ns + " did not start: " + ReadFileOrEmpty(nodes_[i].dir + "/holder.log");
      return false;
    }
  }
  return true;
}

int NetnsLab::AvahiPid(int node) const {
  std::ifstream in(nodes_[node].dir + "/run-avahi/pid");
  int pid = -1;
  in >> pid;
  return pid > 0 && ::kill(pid, 0) == 0 ? pid : -1;
}

bool NetnsLab::WaitForAvahi(int node) {
  return WaitFor([&] { return AvahiPid(node) > 0 && fs::exists(nodes_[node].dir + "/run-avahi/socket"); },
                 std::chrono::seconds(20));
}

std::vector<std::string> NetnsLab::Exec(int node, std::vector<std::string> argv) const {
  std::vector<std::string> out = {"ip", "netns", "exec", nodes_[node].ns, "env",
                                  "DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + nodes_[node].dir + "/run-dbus/system_bus_socket"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

bool NetnsLab::StopAvahi(int node, int sig) {
  const int pid = AvahiPid(node);
  if (pid <= 0) return false;
  ::kill(pid, sig);
  // The daemon is this process's child (a subreaper inherits daemons): reap it, or see it gone.
  const bool gone = WaitFor([&] { return ::waitpid(pid, nullptr, WNOHANG) == pid || ::kill(pid, 0) != 0; },
                            std::chrono::seconds(10));
  std::error_code ec;
  fs::remove(nodes_[node].dir + "/run-avahi/socket", ec);
  fs::remove(nodes_[node].dir + "/run-avahi/pid", ec);
  return gone;
}

bool NetnsLab::StartAvahi(int node) {
  const Node& n = nodes_[node];
  if (!Run({"nsenter", "-t", std::to_string(n.holder), "-m", "-n", "avahi-daemon", "-f", n.dir + "/avahi.conf",
            "--no-chroot", "-D", "--no-rlimits"})) {
    return false;
  }
  return WaitForAvahi(node);
}

std::string NetnsLab::AvahiLog(int node) const { return ReadFileOrEmpty(nodes_[node].dir + "/holder.log"); }

NetnsLab::~NetnsLab() {
  for (const auto& node : nodes_) KillNamespace(node.ns);
  if (!bridge_ns_.empty()) KillNamespace(bridge_ns_);
  holders_.clear();
  ReapChildren();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void InNetns(const std::string& netns, const std::function<void()>& fn) {
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    fn();
  });
  t.join();
}

}  // namespace cloudlet::testing
