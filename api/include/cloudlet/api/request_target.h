// A request's target ("/v1/cloudlets/cl-a?near=40.4,-79.9&limit=5") split into its path and query
// parameters, both percent-decoded: the one reading every HTTP adapter uses.
//
//   auto target = ParseRequestTarget(raw);   // InvalidArgument: bad escape, NUL, not origin-form
//   request.path = target->path;
//   request.query = target->query;
//
// A parameter named twice keeps its last value; "+" stays "+" (spaces are sent as %20). A path
// must start with "/" and may not hold a NUL, even escaped.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "cloudlet/common/status.h"

namespace cloudlet::api {

inline constexpr size_t kMaxRequestTargetBytes = 8192;

struct RequestTarget {
  std::string path;
  std::map<std::string, std::string> query;
};

common::Result<RequestTarget> ParseRequestTarget(std::string_view raw);

// `text` with its %XX escapes decoded; InvalidArgument for a bad escape or a NUL.
common::Result<std::string> PercentDecode(std::string_view text);

}  // namespace cloudlet::api
