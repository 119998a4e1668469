#include "cloudlet/agent/vm_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace cloudlet::agent {

using common::Status;

namespace {
constexpr size_t kBlock = 512;

// Writes what arrives into a staging directory: gunzips when the stream is gzip, then either unpacks
// a base's tar or stores an overlay's qcow2, hashing the bytes as sent all along.
}  // namespace

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_) EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
}

void Sha256Stream::Update(const void* data, size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }

std::string Sha256Stream::Final() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

const char* VmImageKindName(VmImageKind kind) { return kind == VmImageKind::kBase ? "base VM" : "overlay"; }

VmImageStream::VmImageStream(std::string staging, int64_t max_bytes) : staging_(std::move(staging)), max_bytes_(max_bytes) {}

VmImageStream::~VmImageStream() {
  CloseFile();
  if (gzip_) inflateEnd(&z_);
}

bool VmImageStream::Feed(const char* data, size_t n) {
  if (aborted_) return false;
  sha_.Update(data, n);
  sent_ += static_cast<int64_t>(n);
  if (sent_ > max_bytes_) {
    aborted_ = true;
    status_ = Status::FailedPrecondition("larger than " + std::to_string(max_bytes_ >> 20) + " MiB");
    return false;
  }
  if (!status_.ok()) return true;
  if (!format_known_) {
    head_.append(data, n);
    if (head_.size() < 2) return true;
    format_known_ = true;
    gzip_ = static_cast<unsigned char>(head_[0]) == 0x1f && static_cast<unsigned char>(head_[1]) == 0x8b;
    if (gzip_ && inflateInit2(&z_, 15 + 16) != Z_OK) {
      Fail(Status::Internal("zlib: cannot start"));
      return true;
    }
    std::string first;
    first.swap(head_);
    Decompressed(first.data(), first.size());
    return true;
  }
  Decompressed(data, n);
  return true;
}

std::string VmImageStream::Finish() {
  if (!format_known_ && status_.ok()) {
    std::string rest;
    rest.swap(head_);
    format_known_ = true;
    Decompressed(rest.data(), rest.size());
  }
  if (gzip_ && status_.ok() && !gzip_ended_) Fail(Status::FailedPrecondition("the gzip stream is truncated"));
  if (status_.ok() && !kind_known_) {
    std::string rest;
    rest.swap(peek_);
    Unpack(rest.data(), rest.size(), true);
  }
  if (status_.ok() && kind_ == VmImageKind::kBase && (remaining_ > 0 || file_fd_ >= 0 || header_.size() > 0)) {
    Fail(Status::FailedPrecondition("the base's tar is truncated"));
  }
  CloseFile();
  return sha_.Final();
}


bool VmImageStream::Fail(Status s) {
  if (status_.ok()) status_ = std::move(s);
  return false;
}

bool VmImageStream::Decompressed(const char* data, size_t n) {
  if (!gzip_) return Unpack(data, n, false);
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  z_.avail_in = static_cast<uInt>(n);
  std::array<char, 1 << 16> out;
  while (z_.avail_in > 0 && status_.ok()) {
    if (gzip_ended_) {
      // Another gzip member follows (as `cat a.gz b.gz` makes).
      if (inflateReset(&z_) != Z_OK) return Fail(Status::Internal("zlib: cannot reset"));
      gzip_ended_ = false;
    }
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&z_, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return Fail(Status::FailedPrecondition(std::string("not a valid gzip stream: ") + (z_.msg ? z_.msg : "corrupt")));
    }
    const size_t produced = out.size() - z_.avail_out;
    if (produced > 0 && !Unpack(out.data(), produced, false)) return false;
    if (rc == Z_STREAM_END) gzip_ended_ = true;
    else if (rc == Z_BUF_ERROR && produced == 0) break;
  }
  return status_.ok();
}

bool VmImageStream::Unpack(const char* data, size_t n, bool last) {
  unpacked_ += static_cast<int64_t>(n);
  if (unpacked_ > max_bytes_) return Fail(Status::FailedPrecondition("unpacks to more than " + std::to_string(max_bytes_ >> 20) + " MiB"));
  if (!kind_known_) {
    peek_.append(data, n);
    if (peek_.size() < kBlock && !last) return true;
    kind_known_ = true;
    if (peek_.size() >= kBlock && std::memcmp(peek_.data() + 257, "ustar", 5) == 0) {
      kind_ = VmImageKind::kBase;
    } else if (peek_.size() >= 4 && std::memcmp(peek_.data(), "QFI\xfb", 4) == 0) {
      kind_ = VmImageKind::kOverlay;
      if (!OpenFile(kVmOverlay)) return false;
      remaining_ = -1;  // to the end
    } else {
      return Fail(Status::FailedPrecondition("neither a base VM (a tar of disk.qcow2, vmlinuz and initrd.img) "
                                             "nor an overlay (a qcow2 disk)"));
    }
    std::string first;
    first.swap(peek_);
    return kind_ == VmImageKind::kBase ? Untar(first.data(), first.size()) : WriteFile(first.data(), first.size());
  }
  return kind_ == VmImageKind::kBase ? Untar(data, n) : WriteFile(data, n);
}

// A ustar reader for exactly three regular files; anything else is refused.
bool VmImageStream::Untar(const char* data, size_t n) {
  while (n > 0 && status_.ok()) {
    if (ended_) {
      // Zero blocks after the end marker are padding; anything else is not a tar we made.
      for (size_t i = 0; i < n; ++i) {
        if (data[i] != 0) return Fail(Status::FailedPrecondition("data after the end of the base's tar"));
      }
      return true;
    }
    if (remaining_ > 0 || padding_ > 0) {
      if (remaining_ > 0) {
        const size_t take = static_cast<size_t>(std::min<int64_t>(remaining_, static_cast<int64_t>(n)));
        if (!WriteFile(data, take)) return false;
        remaining_ -= static_cast<int64_t>(take);
        data += take;
        n -= take;
        if (remaining_ == 0) CloseFile();
        continue;
      }
      const size_t skip = std::min(padding_, n);
      padding_ -= skip;
      data += skip;
      n -= skip;
      continue;
    }
    const size_t take = std::min(kBlock - header_.size(), n);
    header_.append(data, take);
    data += take;
    n -= take;
    if (header_.size() == kBlock && !Header()) return false;
  }
  return status_.ok();
}

bool VmImageStream::Header() {
  std::string h;
  h.swap(header_);
  if (h.find_first_not_of('\0') == std::string::npos) {
    if (members_.size() != 3) return Fail(Status::FailedPrecondition("the base's tar must hold disk.qcow2, vmlinuz and initrd.img"));
    ended_ = true;
    return true;
  }
  if (std::memcmp(h.data() + 257, "ustar", 5) != 0) return Fail(Status::FailedPrecondition("the base's tar has a header that is not ustar"));
  std::string name(h.data(), strnlen(h.data(), 100));
  if (name.starts_with("./")) name = name.substr(2);
  const char type = h[156];
  if (type == '5' && (name.empty() || name == ".")) return true;  // the archive's own directory
  if (type != '0' && type != '\0') return Fail(Status::FailedPrecondition("the base's tar holds '" + name.substr(0, 64) + "', which is not a regular file"));
  if (name != kVmDisk && name != kVmKernel && name != kVmInitrd) {
    return Fail(Status::FailedPrecondition("the base's tar holds '" + name.substr(0, 64) +
                                           "'; it may hold only disk.qcow2, vmlinuz and initrd.img"));
  }
  for (const auto& m : members_) {
    if (m == name) return Fail(Status::FailedPrecondition("the base's tar holds " + name + " twice"));
  }
  int64_t size = 0;
  for (int i = 124; i < 136 && h[i] != '\0' && h[i] != ' '; ++i) {
    if (h[i] < '0' || h[i] > '7') return Fail(Status::FailedPrecondition("the base's tar has a bad size for " + name));
    size = size * 8 + (h[i] - '0');
  }
  members_.push_back(name);
  if (!OpenFile(name)) return false;
  remaining_ = size;
  padding_ = static_cast<size_t>((kBlock - size % kBlock) % kBlock);
  if (size == 0) CloseFile();
  return true;
}

bool VmImageStream::OpenFile(const std::string& name) {
  file_fd_ = ::open((staging_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (file_fd_ < 0) return Fail(Status::Unavailable(staging_ + "/" + name + ": " + std::strerror(errno)));
  return true;
}

bool VmImageStream::WriteFile(const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(file_fd_, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Fail(Status::Unavailable(staging_ + ": write: " + std::strerror(errno)));
    data += w;
    n -= static_cast<size_t>(w);
    stored_ += w;
  }
  return true;
}

void VmImageStream::CloseFile() {
  if (file_fd_ < 0) return;
  if (status_.ok() && ::fsync(file_fd_) != 0) Fail(Status::Unavailable(staging_ + ": fsync: " + std::strerror(errno)));
  ::close(file_fd_);
  file_fd_ = -1;
}

}  // namespace cloudlet::agent
