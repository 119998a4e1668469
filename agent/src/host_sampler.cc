#include "cloudlet/agent/host_sampler.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>
#include <vector>

#include "cloudlet/common/files.h"

namespace cloudlet::agent {
namespace {

using common::Result;
using common::Status;

constexpr size_t kMaxProcFileBytes = 1 << 20;

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The whole numbers after the first word of a line.
std::vector<uint64_t> Numbers(std::string_view line) {
  std::vector<uint64_t> out;
  size_t pos = line.find(' ');
  while (pos != std::string_view::npos && pos < line.size()) {
    pos = line.find_first_not_of(' ', pos);
    if (pos == std::string_view::npos) break;
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(line.data() + pos, line.data() + line.size(), v);
    if (ec != std::errc()) break;
    out.push_back(v);
    pos = static_cast<size_t>(end - line.data());
  }
  return out;
}

}  // namespace

Result<CpuTimes> ParseProcStat(std::string_view text) {
  CpuTimes t;
  bool have_total = false;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    if (StartsWith(line, "cpu ")) {
      // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is already
      // counted in user and nice.
      auto v = Numbers(line);
      if (v.size() < 4) return Status::InvalidArgument("/proc/stat: the cpu line has fewer than 4 fields");
      for (size_t i = 0; i < std::min<size_t>(v.size(), 8); ++i) t.total += v[i];
      const uint64_t idle = v[3] + (v.size() > 4 ? v[4] : 0);
      t.busy = t.total - std::min(idle, t.total);
      have_total = true;
    } else if (StartsWith(line, "cpu") && line.size() > 3 && std::isdigit(static_cast<unsigned char>(line[3]))) {
      ++t.cores;
    }
  }
  if (!have_total) return Status::InvalidArgument("/proc/stat: no cpu line");
  t.cores = std::max(t.cores, 1);
  return t;
}

Result<MemInfo> ParseMeminfo(std::string_view text) {
  MemInfo m;
  bool total = false, available = false;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    const bool is_total = StartsWith(line, "MemTotal:");
    const bool is_available = StartsWith(line, "MemAvailable:");
    if (!is_total && !is_available) continue;
    auto v = Numbers(line);
    if (v.empty()) return Status::InvalidArgument("/proc/meminfo: no number on '" + line + "'");
    const int64_t mb = static_cast<int64_t>(v[0] / 1024);  // kB
    if (is_total) m.total_mb = mb, total = true;
    else m.available_mb = mb, available = true;
  }
  if (!total || !available) return Status::InvalidArgument("/proc/meminfo: MemTotal or MemAvailable is missing");
  m.available_mb = std::min(m.available_mb, m.total_mb);
  return m;
}

Result<HostSample> HostSampler::Sample() {
  auto stat_text = common::ReadSmallFile(options_.proc_dir + "/stat", kMaxProcFileBytes);
  if (!stat_text.ok()) return stat_text.status();
  auto cpu = ParseProcStat(*stat_text);
  if (!cpu.ok()) return cpu.status();
  auto mem_text = common::ReadSmallFile(options_.proc_dir + "/meminfo", kMaxProcFileBytes);
  if (!mem_text.ok()) return mem_text.status();
  auto mem = ParseMeminfo(*mem_text);
  if (!mem.ok()) return mem.status();

  HostSample s;
  const uint64_t total = cpu->total - std::min(previous_.total, cpu->total);
  const uint64_t busy = cpu->busy - std::min(previous_.busy, cpu->busy);
  // No time passed on the counters (sampled again too soon): the last figure still stands.
  s.load = total == 0 ? last_load_ : std::clamp(static_cast<double>(busy) / static_cast<double>(total), 0.0, 1.0);
  last_load_ = s.load;
  previous_ = *cpu;

  s.cpu_total_millis = options_.cpu_millis.value_or(int64_t{cpu->cores} * 1000);
  s.cpu_free_millis = static_cast<int64_t>(std::llround(static_cast<double>(s.cpu_total_millis) * (1.0 - s.load)));
  if (options_.mem_mb) {
    // A partition of the host: what the host has in use counts against it.
    s.mem_total_mb = *options_.mem_mb;
    s.mem_free_mb = std::clamp<int64_t>(*options_.mem_mb - (mem->total_mb - mem->available_mb), 0, *options_.mem_mb);
  } else {
    s.mem_total_mb = mem->total_mb;
    s.mem_free_mb = mem->available_mb;
  }
  return s;
}

}  // namespace cloudlet::agent
