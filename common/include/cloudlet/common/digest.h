// Content digests as the API writes them: "sha256:" followed by 64 lowercase hex digits.
#pragma once

#include <string_view>

namespace cloudlet::common {

bool IsSha256Digest(std::string_view digest);

}  // namespace cloudlet::common
