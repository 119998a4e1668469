#include "cloudlet/common/host_port.h"

#include <charconv>

namespace cloudlet::common {

Result<HostPort> ParseHostPort(std::string_view text, std::string_view field) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return Status::InvalidField(std::string(field), "must be HOST:PORT");
  std::string_view host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string_view port_text = text.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
    return Status::InvalidField(std::string(field), "port must be 1 to 65535");
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace cloudlet::common
