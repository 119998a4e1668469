#include "cloudlet/agent/vm_images.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/agent/subprocess.h"

namespace cloudlet::agent {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

Result<Qcow2Info> InspectQcow2(const std::string& path, const std::string& qemu_img, int64_t max_virtual) {
  // `qemu-img info` opens the image alone (no backing file), and -f keeps it from guessing a format.
  auto r = RunProgram({qemu_img, "info", "--output=json", "-f", "qcow2", path}, std::chrono::seconds(30));
  if (!r.ok()) return r.status();
  const std::string name = fs::path(path).filename().string();
  if (r->exit_code != 0) {
    std::string why = r->err.substr(0, 300);
    while (!why.empty() && std::isspace(static_cast<unsigned char>(why.back()))) why.pop_back();
    return Status::FailedPrecondition(name + " is not a usable qcow2 disk: " + why);
  }
  const auto info = nlohmann::json::parse(r->out, nullptr, false);
  if (!info.is_object() || info.value("format", "") != "qcow2") {
    return Status::FailedPrecondition(name + " is not a qcow2 disk");
  }
  Qcow2Info out;
  out.virtual_size = info.value("virtual-size", int64_t{0});
  out.actual_size = info.value("actual-size", int64_t{0});
  out.backing = info.value("backing-filename", "");
  const auto specific = info.value("format-specific", nlohmann::json::object());
  if (specific.is_object() && specific.contains("data") && specific["data"].is_object() &&
      specific["data"].contains("data-file")) {
    return Status::FailedPrecondition(name + " names an external data file; refused");
  }
  if (out.virtual_size <= 0 || out.virtual_size > max_virtual) {
    return Status::FailedPrecondition(name + ": virtual size " + std::to_string(out.virtual_size) + " out of range");
  }
  return out;
}

namespace {

size_t OnData(char* data, size_t size, size_t n, void* user) {
  return static_cast<VmImageStream*>(user)->Feed(data, size * n) ? size * n : 0;
}

// Runs `feed` into a staging directory beside `dir`, then checks and renames it to `dir`.
template <typename FeedFn>
Result<VmFetched> Stage(const std::string& what, const std::string& digest, const std::string& dir,
                        const VmFetchOptions& options, FeedFn feed) {
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  if (fs::exists(dir, ec)) return Status::AlreadyExists(dir + " exists");
  fs::create_directories(fs::path(dir).parent_path(), ec);
  std::string staging = dir + ".part-XXXXXX";
  if (!::mkdtemp(staging.data())) return Status::Unavailable(staging + ": " + std::strerror(errno));
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code e;
      if (!path.empty()) fs::remove_all(path, e);
    }
  } cleanup{staging};
  VmFetched out;
  {
    VmImageStream sink(staging, options.max_bytes);
    CLOUDLET_RETURN_IF_ERROR(feed(sink));
    const std::string got = sink.Finish();
    if (got != digest) {
      return Status::InvalidArgument("digest mismatch: " + what + " has " + got + ", not " + digest +
                                     "; nothing was kept");
    }
    if (!sink.error().ok()) return sink.error().WithContext(what);
    out.kind = sink.kind();
    out.transferred_bytes = sink.sent();
    out.stored_bytes = sink.stored();
  }
  auto disk = InspectQcow2(staging + "/" + (out.kind == VmImageKind::kBase ? kVmDisk : kVmOverlay), options.qemu_img);
  if (!disk.ok()) return disk.status().WithContext(what);
  out.virtual_size = disk->virtual_size;
  if (::chmod(staging.c_str(), 0755) != 0 || (fs::rename(staging, dir, ec), ec)) {
    return Status::Unavailable(dir + ": cannot move the image into place: " + ec.message());
  }
  cleanup.path.clear();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

}  // namespace

Result<VmFetched> FetchVmImage(const std::string& url, const std::string& digest, const std::string& dir,
                               const VmFetchOptions& options) {
  return Stage(url, digest, dir, options, [&](VmImageStream& sink) -> Status {
    static std::once_flag init;
    std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) return Status::Internal("libcurl could not be initialised");
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
    curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_file.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, OnData);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &sink);
    const CURLcode rc = curl_easy_perform(curl.get());
    if (sink.aborted()) return sink.error().WithContext(url);
    if (rc != CURLE_OK) return Status::Unavailable("fetching " + url + ": " + curl_easy_strerror(rc));
    return Status::Ok();
  });
}

Result<VmFetched> ImportVmImage(const std::string& path, const std::string& digest, const std::string& dir,
                                const VmFetchOptions& options) {
  return Stage(path, digest, dir, options, [&](VmImageStream& sink) -> Status {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Unavailable(path + ": " + std::strerror(errno));
    std::vector<char> buffer(1 << 20);
    Status s;
    while (s.ok()) {
      const ssize_t r = ::read(fd, buffer.data(), buffer.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) s = Status::Unavailable(path + ": read: " + std::strerror(errno));
      if (r <= 0) break;
      if (!sink.Feed(buffer.data(), static_cast<size_t>(r))) s = sink.error().WithContext(path);  // too large
    }
    ::close(fd);
    return s;
  });
}

}  // namespace cloudlet::agent
