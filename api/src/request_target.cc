#include "cloudlet/api/request_target.h"

namespace cloudlet::api {

using common::Result;
using common::Status;

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      const int h = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int l = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (h < 0 || l < 0) {
        return Status::InvalidArgument("a % at byte " + std::to_string(i) + " is not followed by two hex digits");
      }
      c = static_cast<char>(h * 16 + l);
      i += 2;
    }
    if (c == '\0') return Status::InvalidArgument("a NUL byte is not allowed in a request target");
    out.push_back(c);
  }
  return out;
}

Result<RequestTarget> ParseRequestTarget(std::string_view raw) {
  if (raw.size() > kMaxRequestTargetBytes) {
    return Status::InvalidArgument("the request target exceeds " + std::to_string(kMaxRequestTargetBytes) + " bytes");
  }
  if (raw.empty() || raw.front() != '/') return Status::InvalidArgument("the request target must start with /");
  const size_t hash = raw.find('#');
  if (hash != std::string_view::npos) raw = raw.substr(0, hash);
  const size_t q = raw.find('?');
  RequestTarget out;
  auto path = PercentDecode(raw.substr(0, q));
  if (!path.ok()) return path.status().WithContext("path");
  out.path = std::move(*path);
  if (q == std::string_view::npos) return out;
  std::string_view rest = raw.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq));
    if (!key.ok()) return key.status().WithContext("query");
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value.ok()) return value.status().WithContext("query parameter " + key->substr(0, 64));
    out.query[std::move(*key)] = std::move(*value);
  }
  return out;
}

}  // namespace cloudlet::api
