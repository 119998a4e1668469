// What the tests that run real containers share: whether this machine can, a loopback OCI registry
// (Debian's docker-registry), images built offline from busybox-static and pushed to it, podman on
// a storage root of the test's own (as cloudlet-agent runs it), cloudlet-agent processes on those
// roots, and a teardown that leaves nothing: every root reset, every host guard an agent added
// removed, the registry stopped.
//
//   PodmanLab lab(dir);
//   lab.StartRegistry();
//   std::string base = lab.BuildBase({"sh", "httpd"});     // pinned: 127.0.0.1:PORT/base@sha256:...
//   std::string app = lab.BuildApp("ar", {"COPY www /www", "CMD [...]"}, {{"www/index.html", "hi"}});
//   auto agent = lab.StartAgent({.id = "cl-a", .root = "agent", .registry_url = d.url(), .token = t});
//   ...
//   lab.TearDown({"cl-a"});   // also run by the destructor
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cloudlet/agent/podman_runtime.h"
#include "cloudlet/agent/subprocess.h"
#include "support/child_process.h"
#include "support/netns_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {

// Why podman-based tests cannot run here (root, podman, busybox-static, and docker-registry when
// `need_registry`), or nullptr when they can.
inline const char* WhyPodmanCannotRun(bool need_registry) {
  namespace fs = std::filesystem;
  if (::geteuid() != 0) return "needs root";
  if (!fs::exists("/usr/bin/podman")) return "podman is not installed (apt-get install podman runc)";
  if (!fs::exists("/bin/busybox")) return "busybox-static is not installed";
  if (need_registry && !fs::exists("/usr/bin/docker-registry")) return "docker-registry is not installed";
  return nullptr;
}

// In a fixture's SetUp: skips the test when podman-based tests cannot run here, or fails it when
// CLOUDLET_REQUIRE_NETNS=1 (CI) says they must.
#define CLOUDLET_REQUIRE_PODMAN(need_registry)                                                   \
  do {                                                                                           \
    if (const char* why = ::cloudlet::testing::WhyPodmanCannotRun(need_registry)) {              \
      if (::cloudlet::testing::NetnsLab::Required()) FAIL() << "CLOUDLET_REQUIRE_NETNS=1, but " << why; \
      GTEST_SKIP() << why;                                                                       \
    }                                                                                            \
  } while (0)

// Resets a storage root (everything in it goes), retrying briefly: a container's monitor may still
// be tidying the run directory. The error of the last try, or "" once it is done.
std::string ResetPodmanRoot(const agent::PodmanOptions& storage);

struct LabAgent {
  std::string id;
  std::string root;                 // storage root and state under the lab's directory
  std::string registry_url;         // cloudletd
  std::string token;
  std::string geo = "40.44,-79.94";
  int port = 0;                     // 0: a free one
  std::string endpoint = {};        // registered URL of its API; empty: http://127.0.0.1:<port>
  std::vector<std::string> extra_args = {};
};

class PodmanLab {
 public:
  explicit PodmanLab(TempDir& dir) : dir_(dir) {}
  ~PodmanLab() { TearDown(); }

  void StartRegistry();
  std::string Registry() const { return "127.0.0.1:" + std::to_string(registry_port_); }

  // A base image of busybox and these applets, pushed and pinned by digest.
  std::string BuildBase(const std::vector<std::string>& applets);
  // An app image FROM the base: Containerfile `lines` after FROM, `files` (path -> content) in
  // its build context; pushed and pinned by digest.
  std::string BuildApp(const std::string& name, const std::vector<std::string>& lines,
                       const std::map<std::string, std::string>& files);
  const std::string& base() const { return base_; }

  // How podman runs on storage root `root` for agent `agent_id` (as cloudlet-agent does).
  agent::PodmanOptions Storage(const std::string& root, const std::string& agent_id = "lab") const;
  common::Result<agent::ProgramResult> Podman(const std::string& root, const std::vector<std::string>& args) const;
  // podman's output; a failure is recorded.
  std::string MustPodman(const std::string& root, const std::vector<std::string>& args) const;

  // cloudlet-agent --runtime podman on a steady fake host (16 cores, 8 GiB: what else loads this
  // machine never refuses a placement), registered before it returns.
  std::unique_ptr<ChildProcess> StartAgent(LabAgent a);
  std::string AgentLog(const std::string& root) const { return ReadFileOrEmpty(dir_.File(root + ".log")); }
  // The placements agent `id` (storage root `root`) has containers for.
  std::vector<std::string> Containers(const std::string& root, const std::string& id) const;
  // The full id of the container of `placement`, or "".
  std::string ContainerOf(const std::string& root, const std::string& placement) const;

  // Resets every storage root the lab used, removes the host guards of `agent_ids`, stops the
  // registry; failures are recorded.
  void TearDown(const std::vector<std::string>& agent_ids = {});

 private:
  std::string Push(const std::string& tag, const std::string& name);
  std::string SteadyProc();

  TempDir& dir_;
  int registry_port_ = 0;
  std::unique_ptr<ChildProcess> registry_;
  std::string base_;
  std::map<std::string, std::string> roots_;  // root -> agent id, for teardown
  std::vector<std::string> agent_ids_;
};

}  // namespace cloudlet::testing
