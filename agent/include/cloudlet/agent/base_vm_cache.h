// The base VM images a cloudlet holds, identified by the sha256 of each disk image.
//
//   BaseVmCache cache("var/agent/base-vms.json");
//   auto vms = cache.Scan("/var/lib/cloudlet/images", [](const HashProgress& p) { ... });
//
// Digests are remembered by (path, size, mtime) in a small state file, so that a restart does not
// rehash gigabytes; an image whose size or mtime changed is hashed again. Not synchronised.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"
#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::agent {

struct HashProgress {
  std::string path;
  uint64_t done_bytes = 0;
  uint64_t total_bytes = 0;
};
using HashProgressFn = std::function<void(const HashProgress&)>;

// "sha256:<hex>" of a file's content; reports progress about every `progress_every` bytes.
common::Result<std::string> Sha256File(const std::string& path, const HashProgressFn& progress = {},
                                       uint64_t progress_every = 256ull << 20);

class BaseVmCache {
 public:
  explicit BaseVmCache(std::string state_file);

  // The regular files directly in `dir` (names starting with '.' skipped), sorted by path. A
  // corrupt or missing state file only costs rehashing.
  common::Result<std::vector<discovery::BaseVm>> Scan(const std::string& dir, const HashProgressFn& progress = {});
  // Images hashed (not found in the state file) by the last Scan.
  size_t hashed_last_scan() const { return hashed_last_scan_; }

 private:
  struct Entry {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string digest;
  };
  void Load();
  common::Status Save() const;

  std::string state_file_;
  std::map<std::string, Entry> entries_;  // by absolute path
  size_t hashed_last_scan_ = 0;
};

}  // namespace cloudlet::agent
