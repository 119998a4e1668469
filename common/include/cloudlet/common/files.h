// Small files that must never be seen half-written (state files, tokens).
//
//   CLOUDLET_RETURN_IF_ERROR(WriteFileAtomically("var/agent/agent.json", text, 0600));
//   auto text = ReadSmallFile("var/agent/agent.json", 1 << 20);   // NotFound when absent
#pragma once

#include <sys/types.h>

#include <string>

#include "cloudlet/common/status.h"

namespace cloudlet::common {

// Writes `content` to a temporary file beside `path` with `mode`, syncs it and renames it into
// place, creating the parent directory if needed. A crash leaves the old file or the new one.
Status WriteFileAtomically(const std::string& path, const std::string& content, mode_t mode = 0644);

// The whole file; NotFound when it does not exist, InvalidArgument when it exceeds `max_bytes`.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

}  // namespace cloudlet::common
