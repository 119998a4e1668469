// What the host has and uses: CPU utilisation from /proc/stat, memory from /proc/meminfo.
//
//   HostSampler sampler({.proc_dir = "/proc", .cpu_millis = std::nullopt, .mem_mb = 8192});
//   auto s = sampler.Sample();   // utilisation since the previous call (since boot on the first)
//
// Overrides are for hosts whose capacity is partitioned: the cloudlet then owns `cpu_millis` and
// `mem_mb` rather than the whole machine. Not synchronised: one caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::agent {

struct CpuTimes {
  uint64_t busy = 0;   // jiffies not idle or waiting for I/O
  uint64_t total = 0;  // all jiffies
  int cores = 0;       // "cpuN" lines
};
struct MemInfo {
  int64_t total_mb = 0;
  int64_t available_mb = 0;
};

common::Result<CpuTimes> ParseProcStat(std::string_view text);
common::Result<MemInfo> ParseMeminfo(std::string_view text);

struct HostSample {
  double load = 0;  // CPU utilisation 0..1 over the interval
  int64_t cpu_total_millis = 0;
  int64_t cpu_free_millis = 0;
  int64_t mem_total_mb = 0;
  int64_t mem_free_mb = 0;
};

struct HostSamplerOptions {
  std::string proc_dir = "/proc";
  std::optional<int64_t> cpu_millis;  // capacity override
  std::optional<int64_t> mem_mb;      // capacity override
};

class HostSampler {
 public:
  explicit HostSampler(HostSamplerOptions options) : options_(std::move(options)) {}
  common::Result<HostSample> Sample();

 private:
  HostSamplerOptions options_;
  CpuTimes previous_;
  double last_load_ = 0;
};

}  // namespace cloudlet::agent
