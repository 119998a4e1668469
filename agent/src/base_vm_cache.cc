#include "cloudlet/agent/base_vm_cache.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cloudlet/agent/vm_images.h"
#include "cloudlet/common/digest.h"
#include "cloudlet/common/files.h"

namespace cloudlet::agent {
namespace {

using common::Result;
using common::Status;
namespace fs = std::filesystem;

constexpr size_t kMaxStateFileBytes = 16 << 20;
constexpr int kStateVersion = 1;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Result<std::string> Sha256File(const std::string& path, const HashProgressFn& progress, uint64_t progress_every) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) return Status::Unavailable(path + ": cannot open: " + std::strerror(errno));
  Sha256Stream sha;
  std::error_code ec;
  const uint64_t total = fs::file_size(path, ec);
  std::vector<unsigned char> buffer(1 << 20);
  uint64_t done = 0, next_report = progress_every;
  while (true) {
    const size_t n = std::fread(buffer.data(), 1, buffer.size(), f.get());
    if (n > 0) {
      sha.Update(buffer.data(), n);
      done += n;
      if (progress && done >= next_report) {
        progress({path, done, total});
        next_report = done + progress_every;
      }
    }
    if (n < buffer.size()) {
      if (std::ferror(f.get())) return Status::Unavailable(path + ": read error: " + std::strerror(errno));
      break;
    }
  }
  if (progress) progress({path, done, total});
  return sha.Final();
}

BaseVmCache::BaseVmCache(std::string state_file) : state_file_(std::move(state_file)) { Load(); }

void BaseVmCache::Load() {
  auto text = common::ReadSmallFile(state_file_, kMaxStateFileBytes);
  if (!text.ok()) {
    if (text.status().code() != common::StatusCode::kNotFound) spdlog::warn("base VMs: {}", text.status().ToString());
    return;
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != kStateVersion || !j["images"].is_array()) {
    spdlog::warn("base VMs: {} is not a state file of version {}; images will be hashed again", state_file_,
                 kStateVersion);
    return;
  }
  for (const auto& e : j["images"]) {
    if (!e.is_object() || !e["path"].is_string() || !e["size"].is_number_unsigned() ||
        !e["mtime_ns"].is_number_integer() || !e["digest"].is_string() ||
        !common::IsSha256Digest(e["digest"].get<std::string>())) {
      continue;  // a damaged entry is hashed again
    }
    entries_[e["path"].get<std::string>()] =
        Entry{e["size"].get<uint64_t>(), e["mtime_ns"].get<int64_t>(), e["digest"].get<std::string>()};
  }
}

Status BaseVmCache::Save() const {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& [path, e] : entries_) {
    images.push_back({{"path", path}, {"size", e.size}, {"mtime_ns", e.mtime_ns}, {"digest", e.digest}});
  }
  return common::WriteFileAtomically(state_file_, nlohmann::json{{"version", kStateVersion}, {"images", images}}.dump(1));
}

Result<std::vector<discovery::BaseVm>> BaseVmCache::Scan(const std::string& dir, const HashProgressFn& progress) {
  hashed_last_scan_ = 0;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::InvalidArgument(dir + ": cannot read the base VM directory: " + ec.message());
  std::vector<std::string> paths;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Status::Unavailable(dir + ": " + ec.message());
    const auto name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_regular_file(ec)) continue;
    paths.push_back(fs::absolute(it->path()).lexically_normal().string());
  }
  std::sort(paths.begin(), paths.end());

  std::map<std::string, Entry> seen;
  std::vector<discovery::BaseVm> out;
  for (const auto& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // went away while scanning
    const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    auto known = entries_.find(path);
    Entry entry;
    if (known != entries_.end() && known->second.size == size && known->second.mtime_ns == mtime_ns) {
      entry = known->second;
    } else {
      spdlog::info("base VMs: hashing {} ({:.1f} MiB)", path, static_cast<double>(size) / (1 << 20));
      auto digest = Sha256File(path, progress);
      if (!digest.ok()) {
        spdlog::warn("base VMs: skipping {}: {}", path, digest.status().ToString());
        continue;
      }
      entry = Entry{size, mtime_ns, *digest};
      ++hashed_last_scan_;
    }
    out.push_back({entry.digest, static_cast<double>(size) / (1 << 20)});
    seen[path] = std::move(entry);
  }
  const bool changed = hashed_last_scan_ > 0 || seen.size() != entries_.size();
  entries_ = std::move(seen);
  if (changed) {
    if (auto s = Save(); !s.ok()) spdlog::warn("base VMs: cannot save digests: {}", s.ToString());
  }
  return out;
}

}  // namespace cloudlet::agent
