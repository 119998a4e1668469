// "HOST:PORT" as flags write it ("127.0.0.1:8470", "[::1]:8470", "0.0.0.0:8471").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::common {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// An InvalidField error naming `field` unless the text is HOST:PORT with a port of 1 to 65535.
Result<HostPort> ParseHostPort(std::string_view text, std::string_view field);

}  // namespace cloudlet::common
