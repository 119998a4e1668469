// How the agent runs what is placed on its cloudlet: one workload per placement, pulled, started,
// inspected, measured, listed and stopped through this interface, so that the container driver
// (podman, podman_runtime.h) and a VM driver are interchangeable and tests can fake them.
//
//   auto runtime = MakePodmanRuntime({.root = "var/agent/containers/root", .runroot = "...",
//                                     .advertise_address = "10.0.0.7", .agent_id = "cl-a"});
//   auto pulled = (*runtime)->Pull("127.0.0.1:5000/ar@sha256:...");
//   auto started = (*runtime)->Start({.placement_id = "pl-...", .tenant = "acme", .image = ..., .port = 8080});
//   // started->endpoint == "10.0.0.7:43763"
//   (*runtime)->Stop("pl-...");
//
// Implementations are thread-safe. Workloads carry the placement and tenant as labels, so that an
// agent that restarts adopts what it was running instead of starting it twice.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"

namespace cloudlet::agent {

struct WorkloadSpec {
  std::string placement_id;  // one workload per placement
  std::string tenant;
  std::string image;         // an OCI reference (the vm driver: the overlay, vm_runtime.h)
  std::string base_image = {};  // the vm driver: the base VM the overlay applies to
  uint16_t port = 0;         // what the app serves on inside the workload; published on a host port
  std::map<std::string, std::string> env = {};
  std::vector<std::string> command = {};  // empty: the image's own
  int64_t cpu_millis = 0;    // limits; 0: none
  int64_t mem_mb = 0;
};

enum class WorkloadState { kCreated, kRunning, kExited, kUnknown };
const char* WorkloadStateName(WorkloadState s);

struct WorkloadStatus {
  std::string placement_id;
  std::string tenant;
  std::string id;     // the runtime's id
  std::string image;
  WorkloadState state = WorkloadState::kUnknown;
  std::string endpoint;  // "<advertise address>:<host port>" while running
  int exit_code = 0;
  bool oom_killed = false;
  int64_t started_at_ms = 0;  // Unix time it last started; 0: unknown
  std::string detail = {};    // once exited, what the runtime knows of why (a VM's last console line)
};

// Cumulative since the workload started.
struct WorkloadStats {
  double cpu_s = 0;
  int64_t mem_bytes = 0;  // now
  int64_t net_in_bytes = 0;
  int64_t net_out_bytes = 0;
};

// An image in the runtime's store.
struct ImageInfo {
  std::string id;        // the runtime's image id
  std::string digest;    // the manifest digest it was pulled by (what base_image pins)
  std::vector<std::string> names;  // references it is known by
  int64_t size_bytes = 0;
  bool in_use = false;   // a workload runs on it (directly or as its base)
  int64_t transferred_bytes = -1;  // what the Pull that returned it moved; -1: not known
};


class WorkloadRuntime {
 public:
  virtual ~WorkloadRuntime() = default;
  // Fetches `image` from its registry (only the layers the store lacks move) and returns it as
  // held now; Unavailable when it cannot be fetched, naming the image.
  virtual common::Result<ImageInfo> Pull(const std::string& image) = 0;
  // Starts the placement's workload; AlreadyExists when it has one.
  virtual common::Result<WorkloadStatus> Start(const WorkloadSpec& spec) = 0;
  // Stops and removes the placement's workload; Ok when it has none.
  virtual common::Status Stop(const std::string& placement_id) = 0;
  // NotFound when the placement has no workload.
  virtual common::Result<WorkloadStatus> Inspect(const std::string& placement_id) = 0;
  virtual common::Result<WorkloadStats> Stats(const std::string& placement_id) = 0;
  // The counters of every running workload, by placement, in one look (the meter's reading).
  virtual common::Result<std::map<std::string, WorkloadStats>> StatsAll() = 0;
  // This agent's workloads (by label), whatever their state.
  virtual common::Result<std::vector<WorkloadStatus>> List() = 0;
  // The image `ref` names; NotFound when it is not in the store.
  virtual common::Result<ImageInfo> Image(const std::string& ref) = 0;
  // Every image in the store.
  virtual common::Result<std::vector<ImageInfo>> Images() = 0;
  // Removes an image that no workload uses; FailedPrecondition when one does.
  virtual common::Status RemoveImage(const std::string& id) = 0;
};

}  // namespace cloudlet::agent
