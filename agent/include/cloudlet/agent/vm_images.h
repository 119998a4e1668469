// The vm runtime's images (docs/runtime.md, "VM synthesis"), fetched and checked before anything
// boots from them:
//   a base VM: a tar (ustar) of exactly disk.qcow2, vmlinuz and initrd.img, known by the sha256 of
//              the tar as sent;
//   an overlay: a qcow2 disk holding only the clusters in which the app's disk differs from its base
//              (`cloudlet vm overlay` makes one), known by the sha256 of the bytes as sent.
// Either may be sent gzip-compressed. The bytes are hashed, decompressed and unpacked as they arrive
// (the download, the check and the decompression overlap), into a directory of their own that only
// becomes the image once the digest matches and each qcow2 passes `qemu-img info` (no external data
// file, no backing file the agent would follow). A mismatch leaves nothing behind.
//
//   auto fetched = FetchVmImage("https://images.example/ar.qcow2.gz", "sha256:...", "var/vm/images/<hex>", {});
//   // fetched->kind == VmImageKind::kOverlay; fetched->transferred_bytes, fetched->seconds
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cloudlet/agent/vm_stream.h"
#include "cloudlet/common/status.h"

namespace cloudlet::agent {

struct VmFetchOptions {
  std::string ca_file;                              // for https://; empty: the system's
  std::chrono::milliseconds timeout{30 * 60'000};   // the whole transfer
  int64_t max_bytes = int64_t{64} << 30;            // as sent, and unpacked
  std::string qemu_img = "qemu-img";
};

struct VmFetched {
  VmImageKind kind = VmImageKind::kOverlay;
  int64_t transferred_bytes = 0;  // as sent
  int64_t stored_bytes = 0;       // unpacked, on disk
  int64_t virtual_size = 0;       // the disk's size as the guest sees it
  double seconds = 0;             // download, check and unpack, overlapped
};

// Fetches `url` (http or https) into `dir`, which must not exist yet, checking `digest`. Errors:
// InvalidArgument "digest mismatch: ..." (the content is not what the app named), Unavailable (the
// transfer failed), FailedPrecondition (the content is not a base or an overlay, naming why).
common::Result<VmFetched> FetchVmImage(const std::string& url, const std::string& digest, const std::string& dir,
                                       const VmFetchOptions& options);

// The same from a local file (an operator seeding the cache, tests).
common::Result<VmFetched> ImportVmImage(const std::string& path, const std::string& digest, const std::string& dir,
                                        const VmFetchOptions& options);

// What `qemu-img info` says of a qcow2 file, without opening any backing file. FailedPrecondition
// when it is not a qcow2, has an external data file, or is larger than `max_virtual` bytes.
struct Qcow2Info {
  int64_t virtual_size = 0;
  int64_t actual_size = 0;
  std::string backing;  // the backing file name it records (never followed by the runtime)
};
common::Result<Qcow2Info> InspectQcow2(const std::string& path, const std::string& qemu_img = "qemu-img",
                                       int64_t max_virtual = int64_t{1} << 40);

}  // namespace cloudlet::agent
