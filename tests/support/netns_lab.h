// Real mDNS for tests (docs/discovery.md): network namespaces joined by veth pairs through a
// bridge in its own namespace, each with a private system D-Bus and Avahi daemon. Everything the
// lab starts is killed and every namespace deleted when it goes away, and a lab left behind by a
// test binary that died is cleaned up by the next one.
//
//   if (auto why = NetnsLab::Unavailable(); !why.empty()) SKIP_OR_FAIL(why);
//   NetnsLab lab(3);
//   ASSERT_TRUE(lab.ok()) << lab.error();
//   ChildProcess agent(lab.Exec(1, {AGENT_BIN, "--name", "a"}), log, log);
//   RunCommand(lab.Exec(0, {"avahi-browse", "-rtp", "_cloudlet._tcp"}));
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace cloudlet::testing {

class NetnsLab {
 public:
  // Why this machine cannot host a lab ("" when it can): not root, no `ip netns`, no avahi-daemon.
  static std::string Unavailable();
  // True when CLOUDLET_REQUIRE_NETNS=1: an unavailable lab is then a failure, not a skip.
  static bool Required();

  explicit NetnsLab(int nodes);
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  int nodes() const { return static_cast<int>(nodes_.size()); }
  const std::string& Namespace(int node) const { return nodes_[node].ns; }
  std::string Address(int node) const { return "10.77.0." + std::to_string(node + 1); }
  // `argv` run in the node's network namespace, talking to the node's own Avahi daemon.
  std::vector<std::string> Exec(int node, std::vector<std::string> argv) const;

  // Stops the node's Avahi daemon (SIGTERM: it says goodbye; SIGKILL: it just dies) and starts it
  // again in the same namespaces.
  bool StopAvahi(int node, int sig);
  bool StartAvahi(int node);
  std::string AvahiLog(int node) const;

 private:
  struct Node {
    std::string ns;
    std::string dir;
    int holder = -1;  // keeps the node's mount namespace (private /run/dbus, /run/avahi-daemon)
  };
  bool Run(const std::vector<std::string>& argv);
  bool SetUp(int nodes);
  bool WaitForAvahi(int node);
  int AvahiPid(int node) const;

  std::string prefix_;
  std::string dir_;
  std::string bridge_ns_;
  std::vector<Node> nodes_;
  std::vector<std::unique_ptr<ChildProcess>> holders_;
  std::string error_;
};

// Runs `fn` on a thread that has entered network namespace `netns` (sockets it opens live there).
void InNetns(const std::string& netns, const std::function<void()>& fn);

}  // namespace cloudlet::testing
