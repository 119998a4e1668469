#include "cloudlet/api/query.h"

#include <charconv>
#include <cmath>

namespace cloudlet::api {

using common::Result;
using common::Status;

Result<uint64_t> ParseWholeNumber(const std::string& text, const std::string& field, uint64_t lo, uint64_t hi) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) {
    return Status::InvalidField(field, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  return v;
}

Result<double> ParseNumber(const std::string& text, const std::string& field) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return Status::InvalidField(field, "must be a number");
  }
  return v;
}

Result<uint64_t> QueryWholeNumber(const Query& query, const std::string& name, uint64_t lo, uint64_t hi,
                                  uint64_t absent) {
  auto it = query.find(name);
  if (it == query.end()) return absent;
  return ParseWholeNumber(it->second, name, lo, hi);
}

std::string QueryText(const Query& query, const std::string& name) {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

}  // namespace cloudlet::api
