// The vm runtime's image stream (agent/vm_stream.h), on what a tenant's image URL could serve: the
// bytes are fed in chunks whose sizes the input's first byte sets, gunzipped when gzip, unpacked as a
// base's tar or an overlay's qcow2 into a scratch directory that is emptied after each input.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "cloudlet/agent/vm_stream.h"
#include "support/scratch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string dir = cloudlet::fuzz::ScratchDirectory() + "/vm-image";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  const size_t chunk = 1 + data[0] * 7;
  cloudlet::agent::VmImageStream stream(dir, 1 << 20);
  const char* bytes = reinterpret_cast<const char*>(data) + 1;
  for (size_t at = 0; at < size - 1; at += chunk) {
    if (!stream.Feed(bytes + at, std::min(chunk, size - 1 - at))) break;
  }
  const std::string digest = stream.Finish();
  if (digest.size() != 7 + 64) __builtin_trap();
  return 0;
}
