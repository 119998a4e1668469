// The vm driver of WorkloadRuntime: VM synthesis on QEMU (docs/runtime.md, "VM synthesis"). A
// placement's VM boots from a fresh copy-on-write disk over its overlay over a cached base VM (the
// cache is never written), with the base's kernel and initrd; QEMU's user networking forwards only
// the app's port (on the advertise address) and lets the guest reach nothing (restrict=on); the
// reservation's CPU and memory become -smp, -m and a cgroup quota; QEMU runs as `run_as` under its
// seccomp sandbox. Images are named "<url>@sha256:<hex>" (fetched from the url when missing, checked
// against the digest: vm_images.h) or "sha256:<hex>" (must be cached).
//
//   auto runtime = MakeVmRuntime({.root = "var/agent/vm", .advertise_address = "10.0.0.7", .agent_id = "cl-a"});
//   (*runtime)->Pull("https://images.example/base.tar@sha256:...");   // the base
//   (*runtime)->Pull("https://images.example/ar.qcow2.gz@sha256:..."); // the overlay
//   (*runtime)->Start({.placement_id = "pl-...", .tenant = "acme", .image = "<overlay ref>",
//                      .base_image = "<base ref>", .port = 8080, .cpu_millis = 1000, .mem_mb = 256});
//
// QEMU outlives the agent (its own session), so an agent that restarts adopts its VMs.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cloudlet/agent/workload_runtime.h"

namespace cloudlet::agent {

struct VmOptions {
  std::string root = {};  // images/ (the cache) and run/ (one directory per running VM)
  std::string advertise_address = "127.0.0.1";
  std::string agent_id = {};
  std::string accel = "auto";  // kvm, tcg, or auto: KVM if a probe guest boots under it in time, else TCG
  std::string qemu = "qemu-system-x86_64";
  std::string qemu_img = "qemu-img";
  std::string run_as = "nobody";  // QEMU drops to this user once its files are open; empty: stays
  std::string ca_file = {};       // for https:// image URLs
  std::string cgroup_root = "/sys/fs/cgroup";
  std::chrono::milliseconds kvm_probe_deadline{10'000};
  std::chrono::seconds stop_grace{3};
  int64_t mem_overhead_mb = 192;  // QEMU's own memory above the guest's, in the memory limit
};

// The accelerator to use: "tcg" when asked, "kvm" when asked, and for "auto" "kvm" only if a guest
// started from `kernel` under KVM prints its first kernel line within the deadline (on nested hosts
// /dev/kvm opens but guests hang after the firmware). `why` tells what was found.
std::string ChooseVmAccel(const VmOptions& options, const std::string& kernel, std::string* why);

// FailedPrecondition when QEMU or qemu-img cannot be run, saying which.
common::Result<std::unique_ptr<WorkloadRuntime>> MakeVmRuntime(VmOptions options);

}  // namespace cloudlet::agent
