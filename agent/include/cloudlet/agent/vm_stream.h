// The bytes of a VM image as they arrive (vm_images.h fetches them): hashed, gunzipped when they
// are gzip, and unpacked into a directory: a base VM's tar (exactly disk.qcow2, vmlinuz and
// initrd.img, regular files) or an overlay's qcow2. No digest is trusted here and nothing is
// executed; a separate module so that the fuzzer (fuzz/vm_image.cc) runs it alone.
//
//   VmImageStream s(staging_dir, max_bytes);
//   while (...) if (!s.Feed(data, n)) break;     // false: too large, stop the transfer
//   const std::string digest = s.Finish();       // what was sent; s.error(): whether it unpacked
#pragma once

#include <openssl/evp.h>
#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"

namespace cloudlet::agent {

// SHA-256 over bytes as they come: "sha256:<64 lowercase hex>".
class Sha256Stream {
 public:
  Sha256Stream();
  void Update(const void* data, size_t n);
  std::string Final();

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

enum class VmImageKind { kBase, kOverlay };
const char* VmImageKindName(VmImageKind kind);

// The files of an image directory.
inline constexpr const char* kVmDisk = "disk.qcow2";      // a base's disk
inline constexpr const char* kVmKernel = "vmlinuz";
inline constexpr const char* kVmInitrd = "initrd.img";
inline constexpr const char* kVmOverlay = "overlay.qcow2";

class VmImageStream {
 public:
  VmImageStream(std::string staging, int64_t max_bytes);
  ~VmImageStream();
  VmImageStream(const VmImageStream&) = delete;
  VmImageStream& operator=(const VmImageStream&) = delete;

  // False once the stream must stop (too large). A content that is not an image stops the
  // unpacking, not the hashing: whether the bytes are what the app named is the first question.
  bool Feed(const char* data, size_t n);
  // After the last byte: the digest of what was sent; error() says whether it unpacked.
  std::string Finish();

  const common::Status& error() const { return status_; }
  bool aborted() const { return aborted_; }
  int64_t sent() const { return sent_; }
  int64_t stored() const { return stored_; }
  VmImageKind kind() const { return kind_; }

 private:
  bool Fail(common::Status s);
  bool Decompressed(const char* data, size_t n);
  bool Unpack(const char* data, size_t n, bool last);
  bool Untar(const char* data, size_t n);
  bool Header();
  bool OpenFile(const std::string& name);
  bool WriteFile(const char* data, size_t n);
  void CloseFile();

  const std::string staging_;
  const int64_t max_bytes_;
  common::Status status_;
  Sha256Stream sha_;
  int64_t sent_ = 0, unpacked_ = 0, stored_ = 0;
  bool aborted_ = false, format_known_ = false, gzip_ = false, gzip_ended_ = false;
  z_stream z_{};
  std::string head_, peek_, header_;
  bool kind_known_ = false, ended_ = false;
  VmImageKind kind_ = VmImageKind::kOverlay;
  int file_fd_ = -1;
  int64_t remaining_ = 0;
  size_t padding_ = 0;
  std::vector<std::string> members_;
};

}  // namespace cloudlet::agent
