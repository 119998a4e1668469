// The container driver of WorkloadRuntime, on Debian's podman with the runc OCI runtime (crun fails
// on this kind of host: "cgroups in hybrid mode not supported"). Each placement runs in its own
// container with no capabilities, no new privileges, a read-only root with a small tmpfs, CPU,
// memory, pids and open-file limits, an init process (so that SIGTERM stops it), podman's default
// seccomp profile, no host namespace, only the app's port published (on the advertise address),
// and a network of its tenant's own (tenant_networks.h): tenants cannot reach each other or the host.
//
//   auto runtime = MakePodmanRuntime({.root = dir + "/root", .runroot = dir + "/run", .agent_id = "cl-a"});
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cloudlet/agent/workload_runtime.h"

namespace cloudlet::agent {

struct PodmanOptions {
  std::string root;     // image and container storage (--root); empty: podman's default
  std::string runroot;  // its state (--runroot); empty: podman's default
  std::string advertise_address = "127.0.0.1";  // published ports bind here; endpoints carry it
  std::vector<std::string> insecure_registries = {};  // "host:port" reached over plain HTTP
  std::string agent_id;  // the label that marks this agent's workloads
  std::string podman = "podman";
  std::chrono::milliseconds timeout{120'000};  // for one podman command (a pull may be large)
  std::chrono::seconds stop_grace{5};          // SIGTERM, then SIGKILL after this long
  int64_t pids_limit = 256;
  int64_t tmpfs_mb = 16;
  bool tenant_networks = true;  // a network per tenant (tenant_networks.h); false: podman's default network
  bool guard_host = true;       // workloads open no connections to the host through their bridge
};

// How to run podman for `options`: the program and global flags, and the environment. Podman's
// default locks live in one shared memory segment for the whole host, so two storage roots would
// take each other's lock numbers; each runtime gets file locks of its own under its runroot.
struct PodmanInvocation {
  std::vector<std::string> argv;  // then the subcommand and its arguments
  std::vector<std::string> env;
};
PodmanInvocation PodmanFor(const PodmanOptions& options);

// True when the kernel's log (/dev/kmsg) records an OOM kill in the container's memory cgroup.
bool KernelLogShowsOomKill(const std::string& container_id, const std::string& kmsg = "/dev/kmsg");

// FailedPrecondition when podman or runc cannot be run, saying which.
common::Result<std::unique_ptr<WorkloadRuntime>> MakePodmanRuntime(PodmanOptions options);

}  // namespace cloudlet::agent
