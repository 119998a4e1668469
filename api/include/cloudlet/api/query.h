// Query-string parameters, read one way by every route: a number is the whole value or an error
// naming the parameter ("?limit=5abc" is refused, never read as 5).
//
//   auto limit = QueryWholeNumber(ctx.request.query, "limit", 1, 10'000, /*absent=*/1000);
//   if (!limit.ok()) return respond(ProblemFromStatus(limit.status()));
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "cloudlet/common/status.h"

namespace cloudlet::api {

using Query = std::map<std::string, std::string>;

// `text` as a whole number in [lo, hi]; InvalidField naming `field` otherwise.
common::Result<uint64_t> ParseWholeNumber(const std::string& text, const std::string& field, uint64_t lo, uint64_t hi);
// `text` as a finite decimal number; InvalidField naming `field` otherwise.
common::Result<double> ParseNumber(const std::string& text, const std::string& field);

// The parameter `name` as a whole number in [lo, hi], or `absent` when it is not given.
common::Result<uint64_t> QueryWholeNumber(const Query& query, const std::string& name, uint64_t lo, uint64_t hi,
                                          uint64_t absent);
// The parameter's text, or "" when it is not given.
std::string QueryText(const Query& query, const std::string& name);

}  // namespace cloudlet::api
